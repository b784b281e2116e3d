/** A small seeded pseudo-random generator, so that every fuzz run can be replayed from its seed. */
export class Random {
  private state: number;

  constructor(readonly seed: number) {
    // Scramble the seed so that neighbouring seeds give unrelated sequences; never let the state be 0.
    let s = (seed ^ 0x9e3779b9) >>> 0;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b) >>> 0;
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35) >>> 0;
    this.state = (s ^ (s >>> 16)) >>> 0 || 1;
  }

  /** xorshift32: a uniform 32-bit integer. */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** Pick by weight: [[weight, value], ...]. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    const total = items.reduce((sum, [w]) => sum + w, 0);
    let roll = this.int(total);
    for (const [weight, value] of items) {
      if (roll < weight) return value;
      roll -= weight;
    }
    return items[items.length - 1]![1];
  }

  /** A short identifier-like string. */
  word(length = this.between(1, 12)): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.';
    let out = '';
    for (let i = 0; i < length; i += 1) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}

/** The seed to use: FUZZ_SEED when set (decimal or 0x hex), otherwise a fresh one. */
export function seedFromEnv(name: string): number {
  const raw = process.env[name];
  if (raw !== undefined && raw.trim() !== '') {
    const value = Number(raw.trim());
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new Error(`${name}=${raw}: expected an integer in [0, 2^32)`);
    return value;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
