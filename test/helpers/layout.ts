/**
 * Where the cores leave their results in scratch, read from lib/codec/core.ts. The layout is internal and has
 * changed (one entry area at SCRATCH_ENTRIES; then fragments at SCRATCH_FRAGMENTS and pairs at SCRATCH_PAIRS),
 * so the tests that look into scratch take it from here, whichever of the two core.ts exports.
 */
import * as coreModule from '../../lib/codec/core.js';

const exported = coreModule as unknown as Record<string, unknown>;
const num = (name: string): number | undefined => (typeof exported[name] === 'number' ? (exported[name] as number) : undefined);

function required(value: number | undefined, what: string): number {
  if (value === undefined) throw new Error(`lib/codec/core.ts exports no ${what}`);
  return value;
}

/** First word of the fragments a scanner (scanRecords, scanNetstring) writes. */
export const FRAGMENTS_AT = required(num('SCRATCH_FRAGMENTS') ?? num('SCRATCH_ENTRIES'), 'SCRATCH_FRAGMENTS or SCRATCH_ENTRIES');
/** First word of the pairs a decoder (decodePairs, decodeScgiHeaders) writes. */
export const PAIRS_AT = required(num('SCRATCH_PAIRS') ?? num('SCRATCH_ENTRIES'), 'SCRATCH_PAIRS or SCRATCH_ENTRIES');

/** How many fragments one scanner call can write into `scratch`. */
export function fragmentCapacity(scratch: Uint32Array): number {
  return num('FRAGMENT_CAPACITY') ?? (scratch.length - FRAGMENTS_AT) >>> 2;
}

/** How many pairs one decoder call can write into `scratch`. */
export function pairCapacity(scratch: Uint32Array): number {
  return (scratch.length - PAIRS_AT) >>> 2;
}
