/**
 * Writes the pickle of a torch.save state dict (protocol 2, as torch.save writes it): an
 * OrderedDict of `_rebuild_tensor_v2` calls whose storages are persistent ids naming the
 * `data/<key>` records. Only globals that `torch.load(weights_only=True)` allows appear.
 */
import type { DType } from '../dtype.js';

const STORAGE_CLASS: Record<DType, string> = {
  float32: 'FloatStorage', float64: 'DoubleStorage', float16: 'HalfStorage', bfloat16: 'BFloat16Storage',
  int64: 'LongStorage', int32: 'IntStorage', int16: 'ShortStorage', int8: 'CharStorage', uint8: 'ByteStorage', bool: 'BoolStorage',
};

export interface PickledTensor {
  name: string;
  key: string;
  dtype: DType;
  shape: readonly number[];
}

/** Low-level pickle opcodes, for the state-dict writer (and for tests that craft hostile files). */
export class PickleBuilder {
  #chunks: number[] = [];
  byte(b: number): void { this.#chunks.push(b); }
  bytes(b: Uint8Array): void { for (const x of b) this.#chunks.push(x); }
  u32(n: number): void { this.byte(n & 0xff); this.byte((n >>> 8) & 0xff); this.byte((n >>> 16) & 0xff); this.byte((n >>> 24) & 0xff); }
  global(module: string, name: string): void {
    this.byte(0x63); // GLOBAL
    this.bytes(new TextEncoder().encode(`${module}\n${name}\n`));
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.byte(0x58); // BINUNICODE
    this.u32(b.length);
    this.bytes(b);
  }
  int(n: number): void {
    if (Number.isInteger(n) && n >= 0 && n < 256) { this.byte(0x4b); this.byte(n); return; } // BININT1
    if (Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31) { this.byte(0x4a); this.u32(n >>> 0); return; } // BININT
    let v = BigInt(n);
    const out: number[] = [];
    while (v !== 0n && v !== -1n) { out.push(Number(v & 0xffn)); v >>= 8n; }
    if (out.length === 0 || ((out[out.length - 1]! & 0x80) !== 0) !== (n < 0)) out.push(n < 0 ? 0xff : 0);
    this.byte(0x8a); this.byte(out.length); for (const b of out) this.byte(b); // LONG1
  }
  tuple(items: (() => void)[]): void {
    if (items.length === 0) { this.byte(0x29); return; } // EMPTY_TUPLE
    this.byte(0x28); // MARK
    for (const item of items) item();
    this.byte(0x74); // TUPLE
  }
  emptyOrderedDict(): void {
    this.global('collections', 'OrderedDict');
    this.byte(0x29);
    this.byte(0x52); // REDUCE
  }
  result(): Uint8Array { return Uint8Array.from(this.#chunks); }
}

export function stateDictPickle(tensors: PickledTensor[]): Uint8Array {
  const w = new PickleBuilder();
  w.byte(0x80); w.byte(2); // PROTO 2
  w.emptyOrderedDict();
  if (tensors.length > 0) {
    w.byte(0x28); // MARK
    for (const t of tensors) {
      w.string(t.name);
      w.global('torch._utils', '_rebuild_tensor_v2');
      const numel = t.shape.reduce((a, b) => a * b, 1);
      const stride: number[] = [];
      let s = 1;
      for (let i = t.shape.length - 1; i >= 0; i--) { stride[i] = s; s *= Math.max(1, t.shape[i]!); }
      w.tuple([
        () => {
          w.tuple([() => w.string('storage'), () => w.global('torch', STORAGE_CLASS[t.dtype]), () => w.string(t.key), () => w.string('cpu'), () => w.int(numel)]);
          w.byte(0x51); // BINPERSID
        },
        () => w.int(0),
        () => w.tuple(t.shape.map((d) => () => w.int(d))),
        () => w.tuple(stride.map((d) => () => w.int(d))),
        () => w.byte(0x89), // NEWFALSE: requires_grad
        () => w.emptyOrderedDict(), // backward hooks
      ]);
      w.byte(0x52); // REDUCE
    }
    w.byte(0x75); // SETITEMS
  }
  w.byte(0x2e); // STOP
  return w.result();
}
