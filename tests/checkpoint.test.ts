// Checkpoint loading and saving against files written by real PyTorch (python3-torch in CI,
// PyTorch 2.11 on the GPU machine), made at test time by tests/fixtures/make_checkpoints.py.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCode, full, loadCheckpoint, loadInto, loadStateDict, memory, ones, PyObject, saveStateDict, sharesStorage, zeros,
  type Tensor,
} from '../src/index.js';
import { PickleBuilder, stateDictPickle } from '../src/checkpoint/pickle-writer.js';
import { AlignedZipWriter } from '../src/checkpoint/zip-writer.js';
import { expectError, hasCuda, torchPython } from './helpers.js';

const python = torchPython;
const here = join(import.meta.dirname, 'fixtures');
let dir = '';
type Described = Record<string, { dtype: string; shape: number[]; bytes: string }>;
let manifest: { state: Described; module: Described; edm: Described; shared: [string, string][] };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'onestep-ckpt-'));
  execFileSync(python, [join(here, 'make_checkpoints.py'), dir], { stdio: 'pipe' });
  manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectMatches(sd: Map<string, Tensor>, expected: Described): Promise<void> {
  expect([...sd.keys()]).toEqual(Object.keys(expected));
  for (const [name, want] of Object.entries(expected)) {
    const t = sd.get(name)!;
    expect(t.dtype, name).toBe(want.dtype);
    expect(t.shape, name).toEqual(want.shape);
    expect(Buffer.from(await t.toBytes()).toString('base64'), name).toBe(want.bytes); // bit for bit
  }
}

describe('loading PyTorch checkpoints', () => {
  for (const file of ['state_zip.pt', 'state_legacy.pt']) {
    it(`reads ${file} bit for bit: every dtype, views, offsets, strides, Parameters`, async () => {
      const sd = await loadStateDict(join(dir, file));
      expect(sd.format).toBe(file.includes('zip') ? 'zip' : 'legacy');
      await expectMatches(sd, manifest.state);
      for (const [a, b] of manifest.shared) expect(sharesStorage(sd.get(a)!, sd.get(b)!), `${a}~${b}`).toBe(true);
      expect(sharesStorage(sd.get('w')!, sd.get('f64')!)).toBe(false);
      sd.dispose();
    });
  }

  it('maps the file in place with mmap, keeping views shared', async () => {
    const sd = await loadStateDict(join(dir, 'state_zip.pt'), { mmap: true });
    await expectMatches(sd, manifest.state);
    expect(sharesStorage(sd.get('w')!, sd.get('w_t')!)).toBe(true);
    sd.dispose();
  });

  it('casts floating-point tensors while loading and leaves integers alone', async () => {
    const sd = await loadStateDict(join(dir, 'state_zip.pt'), { dtype: 'float64' });
    expect(sd.get('w')!.dtype).toBe('float64');
    expect(sd.get('bf16')!.dtype).toBe('float64');
    expect(sd.get('i64')!.dtype).toBe('int64');
    expect(sd.get('bool')!.dtype).toBe('bool');
    sd.dispose();
  });

  it('reads a module\'s state dict and training checkpoints, saying which entry held the weights', async () => {
    const module = await loadStateDict(join(dir, 'module.pt'));
    await expectMatches(module, manifest.module);
    expect(module.source).toBe('the top-level dict');
    const training = await loadStateDict(join(dir, 'training.pt'));
    expect(training.source).toBe("the 'model' entry");
    await expectMatches(training, manifest.module);
    const ema = await loadStateDict(join(dir, 'ema_ckpt.pt'));
    expect(ema.source).toBe("the 'ema' entry");
    for (const sd of [module, training, ema]) sd.dispose();
  });

  it('returns the whole object graph of a training checkpoint', async () => {
    const ck = (await loadCheckpoint(join(dir, 'training.pt'))) as Map<string, unknown>;
    expect(ck).toBeInstanceOf(Map);
    expect(ck.get('epoch')).toBe(7);
    expect(ck.get('note')).toBe('hello');
    expect(ck.get('ratio')).toBe(0.5);
    expect(ck.get('big')).toBe(2n ** 70n);
    expect(ck.get('neg')).toBe(-3);
    expect(ck.get('flags')).toEqual([true, false, null]);
    expect(ck.get('ids')).toEqual(new Set([1, 2]));
    expect(ck.get('nested')).toEqual([[1, 2], new Map([['k', 1.5]])]);
    const optimizer = ck.get('optimizer') as Map<string, unknown>;
    const state = optimizer.get('state') as Map<number, Map<string, unknown>>;
    expect([...state.keys()]).toEqual([0, 1, 2, 3, 4, 5]); // int keys stay numbers
    expect((state.get(0)!.get('exp_avg') as Tensor).shape).toEqual([4, 3]);
    expect((optimizer.get('param_groups') as Map<string, unknown>[])[0]!.get('lr')).toBe(0.001);
  });

  it('reads the weights of an EDM network snapshot and never runs its module_src', async () => {
    const sd = await loadStateDict(join(dir, 'network-snapshot-000000.pkl'));
    expect(sd.source).toBe("the 'ema' entry (a pickled module)");
    expect(sd.has('model.enc.32x32_conv.resample_filter')).toBe(false); // a None buffer is not state
    await expectMatches(sd, manifest.edm);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    const graph = (await loadCheckpoint(join(dir, 'network-snapshot-000000.pkl'))) as Map<string, unknown>;
    const ema = graph.get('ema') as PyObject;
    expect(ema).toBeInstanceOf(PyObject);
    expect(ema.qualifiedName).toBe('torch_utils.persistence._reconstruct_persistent_obj');
    const meta = ema.args[0] as Map<string, unknown>;
    expect(meta.get('module_src')).toMatch(/os\.system/); // kept as text, never executed
    sd.dispose();
  });

  it('refuses globals outside the allowlist by name, unless the caller trusts them', async () => {
    await expectError(() => loadCheckpoint(join(dir, 'with_namespace.pt')), ErrorCode.CheckpointUnsafe, /argparse\.Namespace/);
    const ck = (await loadCheckpoint(join(dir, 'with_namespace.pt'), { allowGlobals: ['argparse.Namespace'] })) as Map<string, unknown>;
    const args = ck.get('args') as PyObject;
    expect(args.qualifiedName).toBe('argparse.Namespace');
    expect((args.state as Map<string, unknown>).get('lr')).toBe(0.1);
  });

  it('refuses files that try to run code, in every mode, and runs nothing', async () => {
    await expectError(() => loadCheckpoint(join(dir, 'evil.pt')), ErrorCode.CheckpointUnsafe, /(posix|os|nt)\.system.*never allowed/);
    await expectError(() => loadCheckpoint(join(dir, 'evil.pkl'), { permissive: true }), ErrorCode.CheckpointUnsafe, /never allowed/);
    await expectError(() => loadCheckpoint(join(dir, 'evil.pt'), { allowGlobals: ['posix.system', 'os.system'] }), ErrorCode.CheckpointUnsafe);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });

  it('names the PyTorch 2.x dtypes it does not hold yet (_rebuild_tensor_v3: float8, uint16)', async () => {
    for (const [file, dtype] of [['float8.pt', 'float8_e4m3fn'], ['uint16.pt', 'uint16']] as const) {
      if (!existsSync(join(dir, file))) continue; // written only by PyTorch 2.x (the GPU machine)
      await expectError(() => loadStateDict(join(dir, file)), ErrorCode.CheckpointUnsupported, new RegExp(`torch\\.${dtype}`));
    }
  });

  it('reads files written by the safetensors package, and writes files it reads', async () => {
    if (!existsSync(join(dir, 'by_safetensors.safetensors'))) return; // package absent (Debian); present on the GPU machine
    const sd = await loadStateDict(join(dir, 'by_safetensors.safetensors'));
    const byName = Object.fromEntries(Object.entries(manifest.state).sort(([a], [b]) => a.localeCompare(b)));
    await expectMatches(new Map([...sd.entries()].sort(([a], [b]) => a.localeCompare(b))), byName);
    await saveStateDict(sd, join(dir, 'for_package.safetensors'));
    const out = execFileSync(python, [join(here, 'verify_safetensors_package.py'), join(dir, 'state_zip.pt'), join(dir, 'for_package.safetensors')], { encoding: 'utf8' });
    expect(out).toMatch(/^OK safetensors/);
    sd.dispose();
  });

  it('loads to CUDA when asked', async () => {
    if (!hasCuda) return;
    const sd = await loadStateDict(join(dir, 'state_zip.pt'), { device: 'cuda' });
    expect(sd.get('w')!.device).toBe('cuda:0');
    await expectMatches(sd, manifest.state);
    expect(sharesStorage(sd.get('w')!, sd.get('w_t')!)).toBe(true);
    sd.dispose();
  });

  it('leaks nothing, on success or on failure', async () => {
    const baseline = memory();
    (await loadStateDict(join(dir, 'state_legacy.pt'))).dispose();
    await expect(loadStateDict(join(dir, 'evil.pt'))).rejects.toThrow();
    expect(memory()).toEqual(baseline);
  });
});

describe('saving state dicts', () => {
  it('writes .pt and .safetensors that PyTorch reads back identically (weights_only=True)', async () => {
    const sd = await loadStateDict(join(dir, 'state_zip.pt'));
    await saveStateDict(sd, join(dir, 'saved.pt'));
    await saveStateDict(sd, join(dir, 'saved.safetensors'), { metadata: { format: 'pt' } });
    const out = execFileSync(python, [join(here, 'verify_saved.py'), join(dir, 'state_zip.pt'), join(dir, 'saved.pt'), join(dir, 'saved.safetensors')], { encoding: 'utf8' });
    expect(out).toMatch(/^OK/);
    // And back into onestep.
    for (const file of ['saved.pt', 'saved.safetensors']) {
      const again = await loadStateDict(join(dir, file));
      await expectMatches(again, manifest.state);
      again.dispose();
    }
    const mapped = await loadStateDict(join(dir, 'saved.safetensors'), { mmap: true });
    await expectMatches(mapped, manifest.state);
    mapped.dispose();
    sd.dispose();
  });

  it('aligns every .pt record to 64 bytes, as PyTorch does', async () => {
    const file = readFileSync(join(dir, 'saved.pt'));
    let offset = 0;
    while (file.readUInt32LE(offset) === 0x04034b50) {
      const nameLength = file.readUInt16LE(offset + 26);
      const extraLength = file.readUInt16LE(offset + 28);
      const dataStart = offset + 30 + nameLength + extraLength;
      expect(dataStart % 64).toBe(0);
      offset = dataStart + file.readUInt32LE(offset + 18);
    }
  });

  it('keeps a tensor named __proto__ an ordinary entry', async () => {
    const sd = new Map([['__proto__', ones([2])], ['constructor', zeros([1])]]);
    await saveStateDict(sd, join(dir, 'proto.safetensors'));
    const back = await loadStateDict(join(dir, 'proto.safetensors'));
    expect([...back.keys()]).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
    back.dispose();
  });

  it('rejects bad arguments clearly', async () => {
    await expectError(() => saveStateDict(new Map([['a', ones([1])]]), join(dir, 'x.txt')), ErrorCode.InvalidArgValue, /\.safetensors or \.pt/);
    await expectError(() => saveStateDict(new Map([['a', 5 as unknown as Tensor]]), join(dir, 'x.pt')), ErrorCode.InvalidArgType, /not a Tensor/);
    const gone = ones([1]);
    gone.dispose();
    await expectError(() => saveStateDict(new Map([['a', gone]]), join(dir, 'x.pt')), ErrorCode.InvalidArgValue, /disposed/);
  });
});

describe('loadInto', () => {
  it('refuses a resampling filter other than EDM\'s [1, 1] (onestep computes it as pooling)', async () => {
    const own = new Map([['enc.16x16_down.conv0.resample_filter', full([1, 1, 2, 2], 0.25)]]);
    expect(loadInto(own, new Map([['enc.16x16_down.conv0.resample_filter', full([1, 1, 2, 2], 0.25)]])).loaded).toHaveLength(1);
    await expectError(() => loadInto(own, new Map([['enc.16x16_down.conv0.resample_filter', full([1, 1, 2, 2], 0.5)]])), ErrorCode.StateDictMismatch,
      /enc\.16x16_down\.conv0\.resample_filter is not EDM's \[1, 1\] resampling filter/);
  });

  it('fills a module\'s tensors by name and reports every mismatch at once when strict', async () => {
    const own = new Map([['0.weight', zeros([4, 3])], ['0.bias', zeros([4])], ['extra', zeros([1])], ['2.weight', zeros([9])]]);
    const sd = await loadStateDict(join(dir, 'module.pt'));
    const error = await expectError(() => loadInto(own, sd), ErrorCode.StateDictMismatch);
    expect(error.message).toMatch(/missing: extra/);
    expect(error.message).toMatch(/unexpected: 1\.running_mean/);
    expect(error.message).toMatch(/shape mismatch: 2\.weight is \[9\] here, \[2, 4\] in the state dict/);
    expect(own.get('0.weight')!.sum().item()).toBe(0); // nothing copied
    const report = loadInto(own, sd, { strict: false });
    expect(report.loaded).toEqual(['0.weight', '0.bias']);
    expect(Buffer.from(await own.get('0.weight')!.toBytes()).toString('base64')).toBe(manifest.module['0.weight']!.bytes);
    sd.dispose();
  });
});

describe('hostile and damaged files', () => {
  async function writeZip(name: string, pickle: Uint8Array, records: [string, Uint8Array][]): Promise<string> {
    const path = join(dir, name);
    const file = await open(path, 'w');
    const zip = new AlignedZipWriter(file);
    await zip.add('archive/data.pkl', pickle);
    for (const [key, bytes] of records) await zip.add(`archive/data/${key}`, bytes);
    await zip.finish();
    await file.close();
    return path;
  }

  it('rejects a storage record shorter than its declared size', async () => {
    const pickle = stateDictPickle([{ name: 'w', key: '0', dtype: 'float32', shape: [100] }]);
    const path = await writeZip('short.pt', pickle, [['0', new Uint8Array(40)]]);
    await expectError(() => loadStateDict(path), ErrorCode.CheckpointCorrupt, /declares 400 bytes but its record holds 40/);
  });

  it('rejects a view that reaches outside its storage, before native code touches it', async () => {
    // A 4-element storage viewed as 2×3 with stride (3, 1) ends at element 5: outside.
    const b = new PickleBuilder();
    b.byte(0x80); b.byte(2);
    b.global('torch._utils', '_rebuild_tensor_v2');
    b.tuple([
      () => { b.tuple([() => b.string('storage'), () => b.global('torch', 'FloatStorage'), () => b.string('0'), () => b.string('cpu'), () => b.int(4)]); b.byte(0x51); },
      () => b.int(0), () => b.tuple([() => b.int(2), () => b.int(3)]), () => b.tuple([() => b.int(3), () => b.int(1)]),
      () => b.byte(0x89), () => b.emptyOrderedDict(),
    ]);
    b.byte(0x52); b.byte(0x2e);
    const path = await writeZip('oob.pt', b.result(), [['0', new Uint8Array(16)]]);
    await expectError(() => loadCheckpoint(path), ErrorCode.CheckpointCorrupt, /reaches outside its storage of 4 elements/);
  });

  it('rejects a record whose storage is missing, a truncated zip, and garbage', async () => {
    const pickle = stateDictPickle([{ name: 'w', key: '7', dtype: 'float32', shape: [1] }]);
    await expectError(async () => loadStateDict(await writeZip('missing.pt', pickle, [])), ErrorCode.CheckpointCorrupt, /no data\/7 record/);
    const whole = readFileSync(join(dir, 'state_zip.pt'));
    writeFileSync(join(dir, 'truncated.pt'), whole.subarray(0, whole.length - 100));
    await expectError(() => loadStateDict(join(dir, 'truncated.pt')), ErrorCode.CheckpointCorrupt);
    writeFileSync(join(dir, 'garbage.pt'), 'definitely not a checkpoint');
    await expectError(() => loadStateDict(join(dir, 'garbage.pt')), ErrorCode.CheckpointCorrupt, /not a checkpoint onestep recognises/);
    writeFileSync(join(dir, 'empty.pt'), '');
    await expectError(() => loadStateDict(join(dir, 'empty.pt')), ErrorCode.CheckpointCorrupt, /empty/);
    await expectError(() => loadStateDict(join(dir, 'nope.pt')), ErrorCode.Io, /no such file/);
  });

  function safetensors(name: string, header: string, data = new Uint8Array(16)): string {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
    const path = join(dir, name);
    writeFileSync(path, Buffer.concat([length, Buffer.from(header), data]));
    return path;
  }

  it('rejects malformed safetensors headers', async () => {
    const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect((await loadStateDict(safetensors('ok.safetensors', ok))).get('a')!.shape).toEqual([2]);
    const cases: [string, string, string, RegExp][] = [
      ['dup', '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', ErrorCode.CheckpointCorrupt, /duplicate/],
      ['overlap', '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', ErrorCode.CheckpointCorrupt, /overlap/],
      ['outside', '{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}', ErrorCode.CheckpointCorrupt, /outside the data/],
      ['mismatch', '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', ErrorCode.CheckpointCorrupt, /do not match/],
      ['dtype', '{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}}', ErrorCode.CheckpointCorrupt, /unknown dtype/],
      ['f8', '{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', ErrorCode.CheckpointUnsupported, /F8_E4M3/],
      ['json', '{"a":', ErrorCode.CheckpointCorrupt, /not valid JSON/],
      ['shape', '{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', ErrorCode.CheckpointCorrupt, /malformed shape/],
    ];
    for (const [name, header, code, message] of cases) {
      await expectError(() => loadStateDict(safetensors(`${name}.safetensors`, header)), code, message);
    }
    const huge = Buffer.alloc(16);
    huge.writeBigUInt64LE(2n ** 40n);
    huge[8] = 0x7b;
    writeFileSync(join(dir, 'huge.safetensors'), huge);
    await expectError(() => loadStateDict(join(dir, 'huge.safetensors')), ErrorCode.CheckpointCorrupt, /exceeds/);
  });

  it('bounds pickle nesting, memo references and sizes', async () => {
    const deep = new Uint8Array(200_000).fill(0x28); // 200 000 MARKs
    const path = await writeZip('deep.pt', Uint8Array.from([0x80, 2, ...deep.subarray(0, 20_000), 0x2e]), []);
    await expectError(() => loadCheckpoint(path), ErrorCode.CheckpointCorrupt, /nesting exceeds/);
    const badGet = await writeZip('memo.pt', Uint8Array.from([0x80, 2, 0x68, 9, 0x2e]), []);
    await expectError(() => loadCheckpoint(badGet), ErrorCode.CheckpointCorrupt, /memo entry 9 is missing/);
    const long = await writeZip('long.pt', Uint8Array.from([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x2e]), []);
    await expectError(() => loadCheckpoint(long), ErrorCode.CheckpointCorrupt, /exceeds the limit/);
  });
});
