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
/** Word 7: in, the start offset; word 8: in, the end offset (or the netstring's maxHeader). Native only. */
export const SCRATCH_BEGIN = 7;
export const SCRATCH_END = 8;
/** Word 9: out, the pair count of decodePairsText. */
export const SCRATCH_COUNT = 9;
/** Word 10: out, the index of the registered shape (see registerShape) the decoded pairs have, or 0. */
export const SCRATCH_SHAPE_ID = 10;
/** How many shapes a core remembers. */
export const SHAPE_CAPACITY = 64;
/** Words 16..23: in/out, a scanner's state words while the native core runs. */
export const SCRATCH_STATE = 16;
/**
 * Fragments (scanners) and pairs (decoders) have separate areas, so a record callback may decode params
 * while the fragments of its chunk are still being delivered. Four words an entry.
 */
export const SCRATCH_FRAGMENTS = 24;
export const FRAGMENT_CAPACITY = 256;
export const SCRATCH_PAIRS = SCRATCH_FRAGMENTS + 4 * FRAGMENT_CAPACITY;

/** Fragment words: [type | flags << 8 | requestId << 16, offset, length, contentLength | padding << 16]. */
export const FRAG_FIRST = 1;
export const FRAG_LAST = 2;
/** Pair words: [nameOffset, valueOffset, valueLength, nameLength | knownId << 16]. */
export const MAX_NAME_LENGTH = 65535;

/** Record scanner state (an Int32Array of this many words, owned by the caller). */
export const RECORD_STATE_WORDS = 8;
export const ST_PHASE = 0;
/** Header bytes 0..3 of the current record, byte i in bits 8i..8i+7 (byte 1 type, bytes 2-3 request id). */
export const ST_HEADER_LO = 2;
export const ST_CONTENT_LEFT = 4;
export const ST_CONSUMED = 6;
export const ST_ERROR = 7;
export const PHASE_CONTENT = 1;
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
  /** Makes room for at least `pairs` pairs per decode. */
  reserve(pairs: number): void;
  /** FastCGI record fragments of chunk[start..]; state[ST_CONSUMED] is where it stopped. */
  scanRecords(chunk: Uint8Array, start: number, state: Int32Array): number;
  /** Fragments of the SCGI netstring header; stops after its ','. */
  scanNetstring(chunk: Uint8Array, start: number, state: Int32Array, maxHeader: number): number;
  /** Name-value pairs of buf[begin, end) under the limits in scratch[0..3]. */
  decodePairs(buf: Uint8Array, begin: number, end: number): number;
  /**
   * As decodePairs, and on success returns the latin1 string of buf[begin, end) that values are cut from (the
   * pair count is then in scratch[SCRATCH_COUNT]); a negative code on failure. One crossing instead of two.
   */
  decodePairsText(buf: Uint8Array, begin: number, end: number): string | number;
  /** SCGI `NAME\0VALUE\0` headers of buf[begin, end), validated, with CONTENT_LENGTH in scratch[5..6]. */
  decodeScgiHeaders(buf: Uint8Array, begin: number, end: number): number;
  /**
   * Remembers a sequence of known-name ids (a "shape"). Returns its index, 1-based (the same one when it is
   * already known), or 0 when SHAPE_CAPACITY are known. From then on every successful decode whose pairs
   * have exactly these ids, in this order, puts the index in scratch[SCRATCH_SHAPE_ID] (else 0): the ids
   * are compared one by one, so a hash collision cannot report a wrong shape.
   */
  registerShape(ids: Uint16Array): number;
  /** Forgets every registered shape; indexes are then handed out again from 1. */
  forgetShapes(): void;
  /** Moves on every forgetShapes(): an index seen before a change may name another sequence after it. */
  readonly shapeGeneration: number;
  /** Record headers (8 bytes each) framing a stream payload of `length` bytes; returns the record count. */
  writeStreamHeaders(out: Uint8Array, offset: number, type: number, requestId: number, length: number,
    close: boolean): number;
}

/** The latin1 string of bytes[begin, end). Buffer#latin1Slice skips toString's argument handling. */
type Latin1Slicer = Uint8Array & { latin1Slice?(b: number, e: number): string };
export function latin1(bytes: Uint8Array, begin: number, end: number): string {
  const buf = bytes as Latin1Slicer;
  if (typeof buf.latin1Slice === 'function') return buf.latin1Slice(begin, end);
  return (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as Latin1Slicer).latin1Slice!(begin, end);
}

/** Initial room for pairs; grown by reserve() when limits ask for more. */
export const DEFAULT_PAIR_CAPACITY = 1024;

/** A scratch array with the default room. */
export function newScratch(pairs: number = DEFAULT_PAIR_CAPACITY): Uint32Array {
  return new Uint32Array(SCRATCH_PAIRS + 4 * pairs);
}

/** Room for pairs in a scratch array. */
export function pairCapacity(scratch: Uint32Array): number {
  return (scratch.length - SCRATCH_PAIRS) >>> 2;
}
