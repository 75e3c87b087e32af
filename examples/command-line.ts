/**
 * The examples' command lines: node:util's parseArgs, plus `--help` (the script's header comment,
 * then each option with the comment above it in the script and its default); one line on stderr,
 * not a stack trace, with exit code 2 for an unknown option, a missing value or a UsageError the
 * script throws for a malformed one, and with exit code 1 for an error onestep raises from what
 * the user gave (a bad value, a missing or damaged file: any of its codes but ERR_NATIVE). The
 * option comments in each script are the only description of its options, so --help reads them
 * rather than repeating them. Also the --extra-ema-kimg list and the -ema<kimg>k file tag both
 * training examples use.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ErrorCode } from '../src/index.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses process.argv for the script at `scriptUrl` (pass import.meta.url). */
export function commandLine<T extends ParseArgsConfig>(scriptUrl: string, config: T): ReturnType<typeof parseArgs<T>> {
  const script = fileURLToPath(scriptUrl);
  const argv = config.args ?? process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage(script, config.options ?? {}));
    process.exit(0);
  }
  reportUserErrors(basename(script));
  try {
    return parseArgs(config);
  } catch (error) {
    if (!String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw error;
    console.error(`${basename(script)}: ${(error as Error).message.split('\n')[0]} (--help lists the options)`);
    process.exit(2);
  }
}

/** A flag the script itself finds malformed (e.g. "mean,std" given one number): reported like parseArgs's own errors. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

const userErrorCodes = new Set<string>(Object.values(ErrorCode).filter((code) => code !== ErrorCode.Native));

/** An uncaught onestep error caused by the input ends the script with its message, not a stack trace. */
function reportUserErrors(name: string): void {
  process.on('uncaughtException', (error: Error & { code?: unknown }) => {
    if (error instanceof UsageError) {
      console.error(`${name}: ${error.message} (--help lists the options)`);
      process.exit(2);
    }
    if (typeof error?.code === 'string' && userErrorCodes.has(error.code)) console.error(`${name}: ${error.message} (${error.code})`);
    else console.error(error);
    process.exit(1);
  });
}

/** The header comment, then one entry per option: `--name <value>`, its comment lines, its default. */
export function usage(script: string, options: Options): string {
  const source = readFileSync(script, 'utf8');
  const lines = source.split('\n');
  const header = /^\/\*\*([\s\S]*?)\*\//.exec(source)?.[1]?.split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n').trim() ?? '';
  const entries = Object.entries(options).map(([name, option]) => {
    const at = lines.findIndex((l) => new RegExp(`^\\s*(?:'${name}'|${name}): \\{`).test(l));
    const comments: string[] = [];
    for (let i = at - 1; at > 0 && i >= 0 && /^\s*\/\//.test(lines[i]!); i--) comments.unshift(lines[i]!.replace(/^\s*\/\/\s?/, ''));
    const trailing = at >= 0 ? /\},\s*\/\/\s?(.*)$/.exec(lines[at]!)?.[1] : undefined; // `name: { … }, // what it is`
    if (trailing) comments.push(trailing);
    const value = option.type === 'string' ? ' <value>' : '';
    const fallback = option.default === undefined || option.default === false || option.default === '' ? '' : ` (default ${String(option.default)})`;
    return [`  --${name}${value}${fallback}`, ...comments.map((c) => `      ${c}`)].join('\n');
  });
  return `${header}\n\noptions:\n${entries.join('\n')}\n  --help\n      this text`;
}

/** "250,500" (kimg, as --extra-ema-kimg takes them) → [250 000, 500 000] images; "" → []. */
export function kimgList(text: string | undefined): number[] {
  return text ? text.split(',').map((k) => Number(k) * 1000) : [];
}

/** The file-name tag of an extra EMA's outputs: -ema<kimg>k. */
export const emaTag = (halfLifeImages: number): string => `-ema${halfLifeImages / 1000}k`;
