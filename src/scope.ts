/**
 * Ownership of native tensors from JavaScript, after tfjs: `tidy(fn)` disposes every tensor
 * created while `fn` runs except those it returns (and those passed to `keep`). Async functions
 * work too: the current scope follows the async context (AsyncLocalStorage), so concurrent tidy
 * scopes never claim each other's tensors.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { typeError } from './errors.js';

/** What a scope can own: a Tensor, without importing tensor.ts here. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

class Scope {
  readonly owned = new Set<Disposable>();
  constructor(readonly parent: Scope | undefined) {}
}

const current = new AsyncLocalStorage<Scope>();
const ownerOf = new WeakMap<Disposable, Scope>();

/** Called by every tensor at birth. */
export function adoptIntoScope(item: Disposable): void {
  const scope = current.getStore();
  if (scope) {
    scope.owned.add(item);
    ownerOf.set(item, scope);
  }
}

/** Returns `use(item)`; if `use` throws, `item` is disposed first: a half-built object (weights that
 *  did not fit, a disposed source) is never kept. */
export function disposeOnThrow<T extends { dispose(): void }, R>(item: T, use: (item: T) => R): R {
  try {
    return use(item);
  } catch (error) {
    item.dispose();
    throw error;
  }
}

/** Exempts a tensor from the `tidy` scope that owns it (and so from every enclosing one). */
export function keep<T extends Disposable>(item: T): T {
  const scope = ownerOf.get(item);
  if (scope) {
    scope.owned.delete(item);
    ownerOf.delete(item);
  }
  return item;
}

/** Collects the disposables in a returned value: itself, arrays, Maps, Sets and plain objects. */
function collect(value: unknown, isOwned: (v: unknown) => v is Disposable, found: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if (isOwned(value)) {
    found.add(value);
    return;
  }
  const children: Iterable<unknown> =
    Array.isArray(value) ? value
    : value instanceof Map ? value.values()
    : value instanceof Set ? value.values()
    : Object.getPrototypeOf(value) === Object.prototype ? Object.values(value)
    : [];
  for (const child of children) collect(child, isOwned, found, depth + 1);
}

function close(scope: Scope, result: unknown, isOwned: (v: unknown) => v is Disposable): void {
  const survivors = new Set<Disposable>();
  collect(result, isOwned, survivors);
  for (const item of scope.owned) {
    if (survivors.has(item)) {
      // A returned tensor now belongs to the enclosing scope, if any.
      if (scope.parent) {
        scope.parent.owned.add(item);
        ownerOf.set(item, scope.parent);
      } else {
        ownerOf.delete(item);
      }
    } else if (!item.isDisposed) {
      item.dispose();
    }
  }
  scope.owned.clear();
}

/**
 * Runs `fn` in a scope and disposes the tensors it created, except those it returns. If `fn`
 * returns a Promise, the scope closes when it settles (and also if it rejects).
 */
export function makeTidy(isOwned: (v: unknown) => v is Disposable) {
  function tidy<T>(fn: () => Promise<T>): Promise<T>;
  function tidy<T>(fn: () => T): T;
  function tidy<T>(fn: () => T | Promise<T>): T | Promise<T> {
    if (typeof fn !== 'function') throw typeError('tidy(fn) needs a function');
    const scope = new Scope(current.getStore());
    let result: T | Promise<T>;
    try {
      result = current.run(scope, fn);
    } catch (error) {
      close(scope, undefined, isOwned);
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => { close(scope, value, isOwned); return value; },
        (error: unknown) => { close(scope, undefined, isOwned); throw error; },
      );
    }
    close(scope, result, isOwned);
    return result;
  }
  return tidy;
}
