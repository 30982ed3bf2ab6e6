/**
 * A small seeded PRNG (xorshift128+ folded to 32 bits via splitmix32 seeding) for generated and mutated
 * inputs. A run's seed comes from CGIWIRE_SEED when set, else from the clock; tests print it in their
 * names so a failure can be replayed with CGIWIRE_SEED=<seed>.
 */
import { randomInt } from 'node:crypto';

export function suiteSeed(): number {
  const env = process.env.CGIWIRE_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`CGIWIRE_SEED must be a u32, not ${env}`);
    return n;
  }
  return randomInt(0, 0xffffffff);
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      // splitmix32
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next() | 1;
  }

  /** xoshiro128** */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    if (n <= 0) return 0;
    if (n <= 0x100000000) return Math.floor((this.u32() / 0x100000000) * n);
    return Math.floor(((this.u32() * 0x100000000 + this.u32()) / 2 ** 64) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i);
    for (; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** Lengths skewed small, with the boundaries a length encoding cares about now and then. */
  length(max: number, edges: readonly number[] = []): number {
    const r = this.int(10);
    if (r < 2 && edges.length > 0) return Math.min(max, this.pick(edges));
    if (r < 7) return this.int(Math.min(max, 32) + 1);
    if (r < 9) return this.int(Math.min(max, 512) + 1);
    return this.int(max + 1);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
