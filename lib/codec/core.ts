/**
 * The byte-level core contract, implemented twice: by the C++ addon (native.ts) and by pure TypeScript
 * (js.ts). Both write their results into a scratch Uint32Array they own and return a count or a negative
 * error code (lib/errors.ts). The layout below is the one native/binding.cc uses.
 */

/** Words 0..3 of scratch: the limits a decode call applies; the caller writes them before the call. */
export const SCRATCH_LIMITS = 0;
/** Word 4: out, a hash of the sequence of known-name ids of the last decoded pairs. */
export const SCRATCH_SHAPE = 4;
/** Words 5..6: out, the SCGI CONTENT_LENGTH of the last decoded SCGI header (low, high 32 bits). */
export const SCRATCH_LENGTH_LO = 5;
export const SCRATCH_LENGTH_HI = 6;
/** From word 8 on: fragments or pairs, four words each. */
export const SCRATCH_ENTRIES = 8;

/** Fragment words: [type | flags << 8 | requestId << 16, offset, length, contentLength | padding << 16]. */
export const FRAG_FIRST = 1;
export const FRAG_LAST = 2;
/** Pair words: [nameOffset, valueOffset, valueLength, nameLength | knownId << 16]. */
export const MAX_NAME_LENGTH = 65535;

/** Record scanner state (an Int32Array of this many words, owned by the caller). */
export const RECORD_STATE_WORDS = 8;
export const ST_PHASE = 0;
export const ST_CONSUMED = 6;
export const PHASE_FAILED = 3;
/** SCGI netstring scanner state. */
export const NETSTRING_STATE_WORDS = 6;
export const NS_PHASE = 0;
export const NS_CONSUMED = 4;
export const NS_DONE = 3;

export interface CodecCore {
  /** `'native'` or `'js'`. */
  readonly name: 'native' | 'js';
  /** Where every call below leaves its results. Replaced by {@link CodecCore.reserve}. */
  readonly scratch: Uint32Array;
  /** Makes room for at least `entries` fragments or pairs per call. */
  reserve(entries: number): void;
  /** FastCGI record fragments of chunk[start..]; state[ST_CONSUMED] is where it stopped. */
  scanRecords(chunk: Uint8Array, start: number, state: Int32Array): number;
  /** Fragments of the SCGI netstring header; stops after its ','. */
  scanNetstring(chunk: Uint8Array, start: number, state: Int32Array, maxHeader: number): number;
  /** Name-value pairs of buf[begin, end) under the limits in scratch[0..3]. */
  decodePairs(buf: Uint8Array, begin: number, end: number): number;
  /** SCGI `NAME\0VALUE\0` headers of buf[begin, end), validated, with CONTENT_LENGTH in scratch[5..6]. */
  decodeScgiHeaders(buf: Uint8Array, begin: number, end: number): number;
  /** Record headers (8 bytes each) framing a stream payload of `length` bytes; returns the record count. */
  writeStreamHeaders(out: Uint8Array, offset: number, type: number, requestId: number, length: number,
    close: boolean): number;
}

/** Initial scratch size in entries; grown by reserve() when limits ask for more pairs. */
export const DEFAULT_SCRATCH_ENTRIES = 1024;
