/**
 * loadInto: copies a state dict into a module's own tensors by name (casting dtype and moving
 * device as needed), like torch's `load_state_dict`. With `strict`, one error lists every
 * missing key, unexpected key and shape mismatch before anything is copied.
 */
import { ErrorCode, OnestepError, typeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor, tidy } from '../tensor.js';

/** Anything whose tensors can be filled by name: a native module, or a Map of its tensors. */
export type LoadTarget = { stateDict(): Map<string, Tensor> } | Map<string, Tensor>;

export interface LoadIntoReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  mismatched: { name: string; expected: readonly number[]; got: readonly number[] }[];
}

export function loadInto(target: LoadTarget, stateDict: Map<string, Tensor>, options: { strict?: boolean } = {}): LoadIntoReport {
  const own = target instanceof Map ? target : typeof target?.stateDict === 'function' ? target.stateDict() : null;
  if (!own) throw typeError('loadInto needs a module (with stateDict()) or a Map of its tensors');
  if (!(stateDict instanceof Map)) throw typeError('loadInto needs a Map of name → Tensor');
  const strict = options.strict ?? true;
  const report: LoadIntoReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  for (const name of own.keys()) if (!stateDict.has(name)) report.missing.push(name);
  for (const [name, t] of stateDict) {
    const mine = own.get(name);
    if (!mine) report.unexpected.push(name);
    else if (!(t instanceof Tensor)) throw typeError(`state dict entry '${name}' is not a Tensor`);
    else if (mine.shape.length !== t.shape.length || mine.shape.some((d, i) => d !== t.shape[i])) {
      report.mismatched.push({ name, expected: mine.shape, got: t.shape });
    }
  }
  if (strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
    const lines = [
      ...report.missing.map((n) => `  missing: ${n}`),
      ...report.unexpected.map((n) => `  unexpected: ${n}`),
      ...report.mismatched.map((m) => `  shape mismatch: ${m.name} is [${m.expected.join(', ')}] here, [${m.got.join(', ')}] in the state dict`),
    ];
    throw new OnestepError(ErrorCode.StateDictMismatch, `the state dict does not match the module (${lines.length} problem(s)):\n${lines.join('\n')}`);
  }
  for (const [name, t] of stateDict) if (own.has(name) && name.endsWith('resample_filter')) checkResampleFilter(name, t);
  const skip = new Set(report.mismatched.map((m) => m.name));
  for (const [name, t] of stateDict) {
    const mine = own.get(name);
    if (!mine || skip.has(name)) continue;
    native().copyInto(mine.handle, t.handle);
    report.loaded.push(name);
  }
  return report;
}

/**
 * onestep computes EDM's resampling as 2×2 average pooling and nearest-neighbour ×2 upsampling,
 * which is what EDM's grouped convolutions do with its [1, 1] filter (outer product / 4: every
 * entry 0.25) — the filter of every DDPM++ checkpoint. Any other filter of that shape is refused
 * rather than silently ignored.
 */
function checkResampleFilter(name: string, t: Tensor): void {
  const off = tidy(() => Number(t.sub(0.25).abs().max().item()));
  if (!(off <= 1e-6)) {
    throw new OnestepError(ErrorCode.StateDictMismatch, `${name} is not EDM's [1, 1] resampling filter (every entry 0.25; off by ${off}): onestep implements only that filter`);
  }
}

/** A module whose tensors can be listed by name (and filled in place). */
export interface WithStateDict {
  stateDict(): Map<string, Tensor>;
}

/** Trainable parameters of a module: every state-dict entry except EDM's fixed resampling filters. */
export function countParameters(module: WithStateDict): number {
  let n = 0;
  for (const [name, t] of module.stateDict()) {
    if (!name.endsWith('resample_filter')) n += t.numel;
    t.dispose();
  }
  return n;
}

/** loadInto on a module's own tensors, releasing the temporary handles afterwards. */
export function fillModule(target: WithStateDict, weights: Map<string, Tensor>, options: { strict?: boolean } = {}): LoadIntoReport {
  const own = target.stateDict();
  try {
    return loadInto(own, weights, options);
  } finally {
    for (const t of own.values()) t.dispose();
  }
}

/** Copies every tensor of `from` into `to` by name (strict unless told otherwise). */
export function copyWeights(from: WithStateDict, to: WithStateDict, options: { strict?: boolean; filter?: (name: string) => boolean } = {}): LoadIntoReport {
  const source = from.stateDict();
  const { filter } = options;
  try {
    const chosen = filter ? new Map([...source].filter(([name]) => filter(name))) : source;
    return fillModule(to, chosen, options);
  } finally {
    for (const t of source.values()) t.dispose();
  }
}
