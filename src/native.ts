/**
 * Finds and loads the native addon, in node-gyp-build's order: the local build
 * (build/Release, made by `npm run build:native`) first, then prebuilds under
 * prebuilds/<platform>-<arch>/, whose names say the libtorch they need
 * (`onestep-torch2.11-cu130.node`), CUDA flavours before CPU ones. A binary that cannot load
 * (libtorch missing, or another libtorch version: an undefined symbol) fails with a message
 * naming the libtorch it needs and the command that rebuilds it.
 */
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, OnestepError } from './errors.js';
import type { NativeBinding } from './native-types.js';

const require = createRequire(import.meta.url);
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const REBUILD = 'npm run rebuild:native   (LIBTORCH=/path/to/libtorch picks a libtorch; see README)';

interface Candidate {
  file: string;
  /** What the binary was built against, when known (local builds write onestep.json). */
  needs: string;
}

function describeBuild(metaFile: string): string {
  try {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { torch: string; cuda: string | false; source: string };
    return `libtorch ${meta.torch} (${meta.cuda ? `CUDA ${meta.cuda}` : 'CPU'}) from ${meta.source}`;
  } catch {
    return 'an unknown libtorch';
  }
}

const PREBUILD_NAME = /^onestep-torch(\d+\.\d+)-(cpu|cu\d+)(?:\.napi)?\.node$/;

export function findCandidates(root = packageRoot): Candidate[] {
  const override = process.env.ONESTEP_ADDON;
  if (override) return [{ file: resolve(override), needs: 'the libtorch it was built against (ONESTEP_ADDON)' }];
  const out: Candidate[] = [];
  for (const config of ['Release', 'Debug']) {
    const file = join(root, 'build', config, 'onestep.node');
    if (existsSync(file)) out.push({ file, needs: describeBuild(join(root, 'build', config, 'onestep.json')) });
  }
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (existsSync(dir)) {
    const prebuilds = readdirSync(dir)
      .map((name) => ({ name, match: PREBUILD_NAME.exec(name) }))
      .filter((p): p is { name: string; match: RegExpExecArray } => p.match !== null)
      // CUDA before CPU, newer libtorch first: the first that loads is the most capable.
      .sort((a, b) => Number(b.match[2] !== 'cpu') - Number(a.match[2] !== 'cpu') || b.match[1]!.localeCompare(a.match[1]!, undefined, { numeric: true }));
    for (const { name, match } of prebuilds) {
      const [, torch, variant = 'cpu'] = match;
      out.push({ file: join(dir, name), needs: `libtorch ${torch} (${variant === 'cpu' ? 'CPU' : `CUDA ${variant.slice(2)}`})` });
    }
  }
  return out;
}

/** Turns a dlopen failure into advice. */
export function explainLoadFailure(candidate: Candidate, error: unknown): string {
  const reason = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  let hint = '';
  if (/undefined symbol/.test(reason)) hint = ' — the libtorch found at run time is not the one it was built against';
  else if (/cannot open shared object file/.test(reason)) hint = ' — that libtorch is not installed or not on the library path';
  else if (/invalid ELF header|file too short|not a valid/i.test(reason)) hint = ' — the file is not a native addon for this platform';
  return `  ${candidate.file}\n    needs ${candidate.needs}\n    failed: ${reason}${hint}`;
}

export function loadBinding(candidates = findCandidates()): NativeBinding {
  if (candidates.length === 0) {
    throw new OnestepError(ErrorCode.NativeLoad,
      `onestep's native addon is not built (no build/Release/onestep.node and no prebuild for ${process.platform}-${process.arch}).\n` +
      `Build it against your libtorch: ${REBUILD}`);
  }
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      return require(candidate.file) as NativeBinding;
    } catch (error) {
      failures.push(explainLoadFailure(candidate, error));
    }
  }
  throw new OnestepError(ErrorCode.NativeLoad,
    `onestep's native addon could not be loaded:\n${failures.join('\n')}\nRebuild it for this machine's libtorch: ${REBUILD}`);
}

/** Intra-op threads: OMP_NUM_THREADS when set, otherwise every core (Debian's libtorch starts with one). */
export function defaultThreadCount(env = process.env): number {
  const fromEnv = Number.parseInt(env.OMP_NUM_THREADS ?? '', 10);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism();
}

let binding: NativeBinding | undefined;

/** The loaded addon (loaded on first use, so that importing onestep never throws). */
export function native(): NativeBinding {
  if (!binding) {
    const loaded = loadBinding();
    loaded.setNumThreads(defaultThreadCount());
    binding = loaded;
  }
  return binding;
}
