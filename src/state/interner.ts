/**
 * One shared copy of equal values held by many objects of the state (the labels of the pods of one ReplicaSet,
 * their owner), counted so that a value nobody holds any more is forgotten: the table is as big as the set of
 * distinct values in the state, however the cluster churns.
 */
interface Held<T> {
  value: T;
  refs: number;
}

export class Interner<T> {
  readonly #buckets = new Map<number, Held<T>[]>();
  #size = 0;

  constructor(
    private readonly hash: (value: T) => number,
    private readonly equal: (a: T, b: T) => boolean,
  ) {}

  /** The shared copy of a value equal to `value` (it becomes the shared one if there is none), held once more. */
  acquire(value: T): T {
    const hash = this.hash(value);
    const bucket = this.#buckets.get(hash);
    const held = bucket?.find((h) => h.value === value || this.equal(h.value, value));
    if (held) {
      held.refs += 1;
      return held.value;
    }
    if (bucket) bucket.push({ value, refs: 1 });
    else this.#buckets.set(hash, [{ value, refs: 1 }]);
    this.#size += 1;
    return value;
  }

  /** Let go of a shared copy `acquire` returned. */
  release(value: T): void {
    const hash = this.hash(value);
    const bucket = this.#buckets.get(hash);
    const at = bucket?.findIndex((h) => h.value === value) ?? -1;
    if (!bucket || at < 0) return;
    const held = bucket[at] as Held<T>;
    held.refs -= 1;
    if (held.refs > 0) return;
    this.#size -= 1;
    if (bucket.length === 1) this.#buckets.delete(hash);
    else bucket.splice(at, 1);
  }

  /** Distinct values held. */
  get size(): number {
    return this.#size;
  }
}

function hashString(hash: number, text: string): number {
  let h = hash;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h;
}

/** A hash of a string map that does not depend on the order of its keys. */
export function hashLabels(labels: Readonly<Record<string, string>>): number {
  let sum = 0;
  for (const key in labels) sum = (sum + hashString(hashString(2166136261, key), labels[key] as string)) | 0;
  return sum;
}

export function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => a[key] === b[key] && Object.hasOwn(b, key));
}

export const hashOwner = (owner: { kind: string; name: string }): number => hashString(hashString(2166136261, owner.kind), owner.name);
export const sameOwner = (a: { kind: string; name: string }, b: { kind: string; name: string }): boolean => a.kind === b.kind && a.name === b.name;
