/**
 * The Node options a worker thread of ours starts with: the parent's, without TypeScript loaders (tsx's `--import`
 * and `--require`). Workers inherit them by default, and each such loader costs a worker ~0.3 s of CPU to start: the
 * checkpoint workers are plain JavaScript, and the projection worker registers the one loader it needs itself.
 * Everything else (`--cpu-prof`, heap limits) still reaches the workers.
 */
export function workerExecArgv(parentExecArgv: readonly string[] = process.execArgv): string[] {
  const kept: string[] = [];
  for (let index = 0; index < parentExecArgv.length; index++) {
    const option = parentExecArgv[index]!;
    const [flag, inlineValue] = option.split(/=(.*)/s, 2) as [string, string | undefined];
    if (!LOADER_FLAGS.has(flag)) {
      kept.push(option);
      continue;
    }
    // `--import x` takes the next argument with it; `--import=x` is one.
    const taken = inlineValue === undefined ? parentExecArgv.slice(index, index + 2) : [option];
    index += taken.length - 1;
    if (!isTypeScriptLoader(inlineValue ?? taken[1] ?? '')) kept.push(...taken);
  }
  return kept;
}

const LOADER_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
const isTypeScriptLoader = (specifier: string) => /(^|[/\\])tsx([/\\]|$)/.test(specifier);
