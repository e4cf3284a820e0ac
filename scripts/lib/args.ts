import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * The one argument parser of the operator scripts (`scripts/*.ts`): `node:util`'s `parseArgs`, strict. An unknown
 * option, a missing value or a stray argument prints the problem and the usage on stderr and exits 2 before the
 * script opens anything; `--help` prints the usage on stdout and exits 0. `fail` does the same for a script's own
 * checks of the values.
 */
export function parseScriptArgs<const O extends Options, const P extends boolean = false>(
  usage: string,
  options: O,
  { positionals = false as P, args }: { positionals?: P; args?: string[] } = {},
) {
  const fail = (problem: string): never => {
    console.error(`${problem}\n\n${usage}`);
    process.exit(2);
  };
  type Config = { args: string[] | undefined; options: O & typeof HELP; strict: true; allowPositionals: P };
  let parsed;
  try {
    parsed = parseArgs<Config>({ args, options: { ...options, ...HELP }, strict: true, allowPositionals: positionals });
  } catch (error) {
    return fail((error as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return { values: parsed.values, positionals: parsed.positionals, fail };
}
