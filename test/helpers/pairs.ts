/**
 * Direct calls into a core's pair decoders, with the limits written into scratch words 0..3 as the contract
 * says, and the pairs read back from the scratch entries.
 */
import type { Codec } from '../../lib/index.js';
import { SCRATCH_LIMITS } from '../../lib/codec/core.js';
import { PAIRS_AT } from './layout.js';

export type Limits = readonly [maxBytes: number, maxPairs: number, maxName: number, maxValue: number];

export const DEFAULTS: Limits = [131072, 512, 1024, 65536];
export const MAX_U31 = 0x7fffffff;

export interface RawPair {
  nameOffset: number;
  valueOffset: number;
  valueLength: number;
  nameLength: number;
  id: number;
}

export function setRawLimits(codec: Codec, limits: Limits): void {
  const s = codec.core.scratch;
  for (let i = 0; i < 4; i++) s[SCRATCH_LIMITS + i] = limits[i];
}

function readPairs(codec: Codec, n: number): RawPair[] {
  const s = codec.core.scratch;
  const out: RawPair[] = [];
  for (let i = 0; i < n; i++) {
    const p = PAIRS_AT + 4 * i;
    out.push({ nameOffset: s[p], valueOffset: s[p + 1], valueLength: s[p + 2], nameLength: s[p + 3] & 0xffff, id: s[p + 3] >>> 16 });
  }
  return out;
}

/** core.decodePairs under `limits`: the return value and, on success, the pairs. */
export function rawDecodePairs(codec: Codec, buf: Uint8Array, limits: Limits = DEFAULTS, begin = 0, end = buf.length) {
  setRawLimits(codec, limits);
  const n = codec.core.decodePairs(buf, begin, end);
  return { n, pairs: n > 0 ? readPairs(codec, n) : [] };
}

/** core.decodeScgiHeaders under `limits`. */
export function rawDecodeScgi(codec: Codec, buf: Uint8Array, limits: Limits = DEFAULTS, begin = 0, end = buf.length) {
  setRawLimits(codec, limits);
  const n = codec.core.decodeScgiHeaders(buf, begin, end);
  return { n, pairs: n > 0 ? readPairs(codec, n) : [] };
}

/** The `code` of what `fn` throws, or 'no error'. */
export function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? `${(err as Error).name}: ${(err as Error).message}`;
  }
  return 'no error';
}
