/**
 * A pickle reader that executes nothing. It walks the opcodes of protocols 0–5 that PyTorch and
 * EDM files use and builds a graph of plain values; globals are looked up in a table of known,
 * inert constructors (the `weights_only` allowlist, see globals.ts). Every size is bounded and
 * every malformed input ends in an ERR_CHECKPOINT_* error, never in a crash or a hang.
 */
import { ErrorCode, OnestepError } from '../errors.js';

/** A dict key as pickles write them. */
export type PyKey = string | number | bigint | boolean | null | PyTuple;
/** A tuple: frozen, to tell it from a list where that matters. */
export type PyTuple = readonly PyValue[];
export type PyValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PyValue[] | PyTuple | Map<PyKey, PyValue> | Set<PyValue>
  | PyObject | object;

/** What a global that we do not model becomes in permissive mode: data, never behaviour. */
export class PyObject {
  state: PyValue = null;
  constructor(readonly module: string, readonly name: string, readonly args: PyValue[] = []) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** How a global behaves when the pickle calls it (REDUCE, NEWOBJ) or builds it (BUILD). */
export interface GlobalBehaviour {
  /** The value pushed by GLOBAL itself (a dtype name, a storage class…), if not callable. */
  value?: PyValue;
  call?(args: PyValue[]): PyValue;
  build?(target: PyValue, state: PyValue): PyValue;
}

export interface PickleLimits {
  /** Memo entries. */
  maxMemo: number;
  /** Stack depth plus mark depth. */
  maxDepth: number;
  /** Length of one string or bytes value. */
  maxBytes: number;
  /** Opcodes executed (guards against pathological inputs). */
  maxOps: number;
}

export const DEFAULT_LIMITS: PickleLimits = {
  maxMemo: 1 << 22,
  maxDepth: 10_000,
  maxBytes: 1 << 30,
  maxOps: 1 << 28,
};

export interface PickleEnv {
  resolveGlobal(module: string, name: string): GlobalBehaviour;
  persistentLoad?(pid: PyValue): PyValue;
  limits?: Partial<PickleLimits>;
}

export function corrupt(message: string): OnestepError {
  return new OnestepError(ErrorCode.CheckpointCorrupt, message);
}

/** The pickle ran past the bytes given: a reader holding only a prefix may read more and retry. */
export class PickleTruncated extends OnestepError {
  constructor(message: string) {
    super(ErrorCode.CheckpointCorrupt, message);
  }
}

/** A callable pushed by GLOBAL. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string, readonly behaviour: GlobalBehaviour) {}
}

const MARK = Symbol('mark');
type StackItem = PyValue | PyGlobal | typeof MARK;

const decoder = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/**
 * Reads one pickle from `bytes` starting at `start`; returns the value and the offset after STOP
 * (legacy torch files hold several pickles in a row).
 */
export function unpickle(bytes: Uint8Array, env: PickleEnv, start = 0): { value: PyValue; end: number } {
  const limits = { ...DEFAULT_LIMITS, ...env.limits };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, StackItem>();
  let pos = start;
  let ops = 0;

  const need = (n: number): number => {
    if (n < 0) throw corrupt(`pickle length ${n} at byte ${pos} is out of range`);
    if (pos + n > bytes.length) throw new PickleTruncated(`pickle truncated at byte ${pos} (needs ${n} more bytes)`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)]!;
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const i32 = () => view.getInt32(need(4), true);
  const u64 = (): number => {
    const at = need(8);
    const value = view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`pickle length ${value} at byte ${at} is out of range`);
    return Number(value);
  };
  const take = (n: number): Uint8Array => {
    if (n > limits.maxBytes) throw corrupt(`pickle string of ${n} bytes exceeds the limit of ${limits.maxBytes}`);
    const at = need(n);
    return bytes.subarray(at, at + n);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 && bytes.length - pos <= 4096) throw new PickleTruncated(`pickle text line at byte ${pos} is unterminated`);
    if (end < 0 || end - pos > 4096) throw corrupt(`pickle text line at byte ${pos} is unterminated`);
    const text = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return text;
  };
  const utf8 = (b: Uint8Array): string => {
    try {
      return decoder.decode(b);
    } catch {
      throw corrupt(`pickle string at byte ${pos - b.length} is not valid UTF-8`);
    }
  };

  const push = (item: StackItem): void => {
    if (stack.length + marks.length >= limits.maxDepth) throw corrupt(`pickle nesting exceeds ${limits.maxDepth}`);
    stack.push(item);
  };
  const pop = (): StackItem => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1]!)) {
      throw corrupt(`pickle stack underflow at byte ${pos - 1}`);
    }
    return stack.pop()!;
  };
  const top = (): StackItem => {
    if (stack.length === 0) throw corrupt(`pickle stack underflow at byte ${pos - 1}`);
    return stack[stack.length - 1]!;
  };
  const popMark = (): StackItem[] => {
    const mark = marks.pop();
    if (mark === undefined) throw corrupt(`pickle MARK missing at byte ${pos - 1}`);
    return stack.splice(mark);
  };
  const value = (item: StackItem, what: string): PyValue => {
    if (item === MARK) throw corrupt(`pickle ${what}: unexpected mark`);
    // A global used as a value (a dtype, a storage class, or a function passed as an argument).
    if (item instanceof PyGlobal && item.behaviour.value !== undefined) return item.behaviour.value;
    return item;
  };
  const memoPut = (index: number, item: StackItem): void => {
    if (memo.size >= limits.maxMemo && !memo.has(index)) throw corrupt(`pickle memo exceeds ${limits.maxMemo} entries`);
    memo.set(index, item);
  };
  const memoGet = (index: number): StackItem => {
    const item = memo.get(index);
    if (item === undefined) throw corrupt(`pickle memo entry ${index} is missing`);
    return item;
  };
  const call = (callable: StackItem, args: PyValue[], how: string): PyValue => {
    if (!(callable instanceof PyGlobal)) throw corrupt(`pickle ${how} on a value that is not a global`);
    if (!callable.behaviour.call) {
      throw new OnestepError(ErrorCode.CheckpointUnsafe, `pickle calls ${callable.module}.${callable.name}, which is not allowed to be called`);
    }
    return callable.behaviour.call(args);
  };
  // Pops an argument tuple and the callable beneath it, and calls it (REDUCE and NEWOBJ alike).
  const callWithArgs = (how: string): PyValue => {
    const args = value(pop(), `${how} arguments`);
    const callable = pop();
    if (!Array.isArray(args)) throw corrupt(`pickle ${how} arguments are not a tuple`);
    return call(callable, [...args], how);
  };
  const globalOf = (module: string, name: string): PyGlobal => new PyGlobal(module, name, env.resolveGlobal(module, name));
  const setItems = (target: StackItem, items: StackItem[]): void => {
    if (!(target instanceof Map)) throw corrupt('pickle SETITEM(S) on a value that is not a dict');
    if (items.length % 2 !== 0) throw corrupt('pickle SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) target.set(key(value(items[i]!, 'dict key')), value(items[i + 1]!, 'dict value'));
  };
  const key = (k: PyValue): PyKey => {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
    if (Array.isArray(k) && Object.isFrozen(k)) return k as PyTuple;
    throw corrupt('pickle dict key of an unsupported type');
  };
  const tuple = (items: PyValue[]): PyTuple => Object.freeze(items);

  for (;;) {
    if (++ops > limits.maxOps) throw corrupt('pickle has too many opcodes');
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const proto = u8();
        if (proto > 5) throw new OnestepError(ErrorCode.CheckpointUnsupported, `pickle protocol ${proto} is not supported`);
        break;
      }
      case 0x95: u64(); break; // FRAME: framing is transparent here
      case 0x2e: { // STOP
        const result = value(pop(), 'result');
        return { value: result, end: pos };
      }
      case 0x28: // MARK
        if (marks.length + stack.length >= limits.maxDepth) throw corrupt(`pickle nesting exceeds ${limits.maxDepth}`);
        marks.push(stack.length);
        break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(long(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0 || n > 1 << 16) throw corrupt(`pickle LONG4 of ${n} bytes is out of range`);
        push(long(take(n)));
        break;
      }
      case 0x49: push(parseIntLine(line())); break; // INT (protocol 0)
      case 0x4c: push(parseIntLine(line().replace(/L$/, ''))); break; // LONG (protocol 0)
      case 0x46: { // FLOAT (protocol 0)
        const f = Number(line());
        push(f);
        break;
      }
      case 0x47: push(view.getFloat64(need(8), false)); break; // BINFLOAT, big-endian
      case 0x58: push(utf8(take(u32()))); break; // BINUNICODE
      case 0x8c: push(utf8(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(utf8(take(u64()))); break; // BINUNICODE8
      case 0x54: push(latin1.decode(take(u32()))); break; // BINSTRING
      case 0x55: push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: push(take(u32()).slice()); break; // BINBYTES
      case 0x43: push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(tuple([])); break; // EMPTY_TUPLE
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x8f: push(new Set()); break; // EMPTY_SET
      case 0x85: push(tuple([value(pop(), 'tuple item')])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = value(pop(), 'tuple item');
        const a = value(pop(), 'tuple item');
        push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = value(pop(), 'tuple item');
        const b = value(pop(), 'tuple item');
        const a = value(pop(), 'tuple item');
        push(tuple([a, b, c]));
        break;
      }
      case 0x74: push(tuple(popMark().map((v) => value(v, 'tuple item')))); break; // TUPLE
      case 0x6c: push(popMark().map((v) => value(v, 'list item'))); break; // LIST
      case 0x64: { // DICT
        const items = popMark();
        const d = new Map<PyKey, PyValue>();
        setItems(d, items);
        push(d);
        break;
      }
      case 0x91: push(Object.freeze(new Set(popMark().map((v) => value(v, 'set item'))))); break; // FROZENSET
      case 0x61: { // APPEND
        const item = value(pop(), 'list item');
        const list = top();
        if (!Array.isArray(list) || Object.isFrozen(list)) throw corrupt('pickle APPEND on a value that is not a list');
        list.push(item);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark().map((v) => value(v, 'list item'));
        const list = top();
        if (!Array.isArray(list) || Object.isFrozen(list)) throw corrupt('pickle APPENDS on a value that is not a list');
        for (const item of items) list.push(item);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark().map((v) => value(v, 'set item'));
        const set = top();
        if (!(set instanceof Set) || Object.isFrozen(set)) throw corrupt('pickle ADDITEMS on a value that is not a set');
        for (const item of items) set.add(item);
        break;
      }
      case 0x71: memoPut(u8(), top()); break; // BINPUT
      case 0x72: memoPut(u32(), top()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size, top()); break; // MEMOIZE
      case 0x70: memoPut(parseIntLine(line()) as number, top()); break; // PUT
      case 0x68: push(memoGet(u8())); break; // BINGET
      case 0x6a: push(memoGet(u32())); break; // LONG_BINGET
      case 0x67: push(memoGet(parseIntLine(line()) as number)); break; // GET
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        push(globalOf(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = value(pop(), 'global name');
        const module = value(pop(), 'global module');
        if (typeof module !== 'string' || typeof name !== 'string') throw corrupt('pickle STACK_GLOBAL needs two strings');
        push(globalOf(module, name));
        break;
      }
      case 0x52: // REDUCE: callable(*args)
        push(callWithArgs('REDUCE'));
        break;
      case 0x81: // NEWOBJ: cls.__new__(cls, *args)
        push(callWithArgs('NEWOBJ'));
        break;
      case 0x92: // NEWOBJ_EX: as NEWOBJ, with kwargs that no modelled class takes
        pop();
        push(callWithArgs('NEWOBJ_EX'));
        break;
      case 0x62: { // BUILD
        const state = value(pop(), 'BUILD state');
        const target = pop();
        push(build(target, state));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = value(pop(), 'persistent id');
        if (!env.persistentLoad) throw corrupt('pickle refers to external storage, which this file cannot have');
        push(env.persistentLoad(pid));
        break;
      }
      default:
        throw corrupt(`pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos - 1} is not supported`);
    }
  }

  function build(target: StackItem, state: PyValue): PyValue {
    if (target instanceof PyObject) {
      target.state = state;
      return target;
    }
    const behaviour = buildBehaviours.get(target as object);
    if (behaviour?.build) return behaviour.build(target as PyValue, state);
    if (target instanceof Map) return target; // OrderedDict.__setstate__ with no state worth keeping
    throw corrupt('pickle BUILD on a value that cannot be built');
  }
}

/**
 * Values made by a global's `call` may register how BUILD treats them (tensors take their
 * hooks and requires_grad there). A WeakMap keeps them free of hidden properties.
 */
export const buildBehaviours = new WeakMap<object, GlobalBehaviour>();

function long(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let result = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) result = (result << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) result -= 1n << BigInt(bytes.length * 8);
  return result >= BigInt(Number.MIN_SAFE_INTEGER) && result <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(result) : result;
}

function parseIntLine(text: string): number | boolean | bigint {
  if (text === '00') return false;
  if (text === '01') return true;
  if (!/^-?\d{1,40}$/.test(text)) throw corrupt(`pickle integer '${text.slice(0, 20)}' is malformed`);
  const big = BigInt(text);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}
