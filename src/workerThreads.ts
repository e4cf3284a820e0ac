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
    const value = inlineValue ?? parentExecArgv[index + 1] ?? '';
    if (inlineValue === undefined) index++;
    if (!isTypeScriptLoader(value)) kept.push(option, ...(inlineValue === undefined ? [value] : []));
  }
  return kept;
}

const LOADER_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
const isTypeScriptLoader = (specifier: string) => /(^|[/\\])tsx([/\\]|$)/.test(specifier);
