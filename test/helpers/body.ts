/**
 * The bodies the fixtures were captured with (test/fixtures/README.md), regenerated from their description.
 */

/**
 * The 102400-byte pseudo-random POST body: xorshift32 from state 0x12345678; each step
 * `x ^= x << 13; x ^= x >>> 17; x ^= x << 5` (32-bit unsigned), then the byte `x & 0xff`.
 */
export function xorshiftBody(length = 102400, state = 0x12345678): Buffer {
  const out = Buffer.alloc(length);
  let x = state >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** The big cookie value: `big=` then characters of a-z0-9 by position (i mod 36), `length` bytes in all. */
export function bigCookie(length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = 'big=';
  for (let i = s.length; i < length; i++) s += alphabet[i % 36];
  return s;
}
