/**
 * FastCGI record reading on top of a core: one scan call per chunk, then one callback per record piece.
 * Stream content (PARAMS, STDIN, STDOUT, STDERR, DATA) is handed on as views of the chunk, never copied;
 * only a non-stream record cut by a chunk boundary is copied, once, into a buffer of its exact size.
 */
import {
  FRAG_FIRST, FRAG_LAST, FRAGMENT_CAPACITY, PHASE_CONTENT, PHASE_FAILED, RECORD_STATE_WORDS, SCRATCH_FRAGMENTS,
  ST_CONSUMED, ST_CONTENT_LEFT, ST_ERROR, ST_HEADER_LO, ST_PHASE, type CodecCore,
} from './core.js';
import { type CgiwireError, protocolError } from '../errors.js';

/** Record types of FastCGI 1.0, section 8. */
export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;

/** True for the types whose content is a byte stream ended by an empty record (FastCGI 1.0, 3.3). */
export function isStreamType(type: number): boolean {
  return type >= RecordType.PARAMS && type <= RecordType.DATA;
}

/**
 * Receives what a {@link RecordReader} reads: content is `buf[offset, offset + length)`, handed over as a
 * position rather than a view so that nothing is allocated for records the receiver only glances at (make a
 * view with `buf.subarray` when one is needed; `buf` is the chunk pushed, or a gathered copy). For a stream
 * type it is the next piece of that request's stream (record boundaries carry no meaning) and an empty piece
 * ends the stream. For any other type, including types this version does not know, it is the record's whole
 * content. Read `buf` before returning only if the chunk may be reused by its owner.
 */
export type RecordCallback = (type: number, requestId: number, buf: Buffer, offset: number, length: number) => void;

/**
 * A view kept by its receiver keeps its whole chunk alive. Content handed to a consumer that may hold it
 * (a request body, params gathered across records) is therefore a view only when what the chunk carries for
 * that consumer is at least 1/RETAIN_RATIO of the memory the view would keep; otherwise it is copied
 * (cheaply: it is small by then). Without this, a peer sending 1-byte STDIN records each in its own 64 KiB
 * chunk made 64 KiB stay alive per body byte held, far beyond bodyBufferBytes.
 */
export const RETAIN_RATIO = 4;

/**
 * buf[offset, offset + length) as a view, or as a copy when the view would keep far more memory alive.
 * `share`: the bytes the same chunk carries for the same consumer, pieces that are held or let go together
 * (RecordReader#chunkShare for a request's streams); by default the piece alone. A chunk that holds the end
 * of one body record, a whole one and the start of the next is all body: its small pieces stay views too.
 */
export function contentPiece(buf: Buffer, offset: number, length: number, share = length): Buffer {
  const view = buf.subarray(offset, offset + length);
  return (share > length ? share : length) * RETAIN_RATIO >= buf.buffer.byteLength ? view : Buffer.from(view);
}

// Fragments live in the core's scratch. Decoders write elsewhere, so a callback may decode params; but a
// callback that pushes into another reader (a nested push) would overwrite the fragments still to be
// delivered, so a nested push saves the fragment area and puts it back when it is done.
let depth = 0;

export class RecordReader {
  private readonly state = new Int32Array(RECORD_STATE_WORDS);
  private carry: Buffer | null = null;
  private carryFill = 0;
  private failed: CgiwireError | null = null;
  /**
   * While a chunk is delivered: the bytes of STDIN, STDOUT, STDERR and DATA content it carries when they all
   * belong to one request, else 0 (see contentPiece). PARAMS are left out: a request keeps its params for
   * its whole life, so they must not keep a chunk alive on the strength of a body read long before.
   */
  chunkShare = 0;

  constructor(private readonly core: CodecCore, private readonly onRecord: RecordCallback) {}

  /**
   * Reads a chunk of any size. Returns null, or the error that broke the stream (bad version): the
   * connection cannot be resynchronised after it, and every later push returns the same error.
   */
  push(chunk: Buffer): CgiwireError | null {
    if (this.failed) return this.failed;
    const st = this.state;
    // A chunk that lies wholly inside a stream record's content (a big STDIN record arriving in socket-sized
    // pieces) needs no scan: it is that stream's next piece. Both cores keep this state layout.
    if (st[ST_PHASE] === PHASE_CONTENT && chunk.length > 0 && chunk.length < st[ST_CONTENT_LEFT]) {
      const lo = st[ST_HEADER_LO];
      const type = (lo >>> 8) & 0xff;
      const requestId = ((lo >>> 16) & 0xff) << 8 | (lo >>> 24);
      if (isStreamType(type) && requestId !== 0) {
        st[ST_CONTENT_LEFT] -= chunk.length;
        this.chunkShare = type === RecordType.PARAMS ? 0 : chunk.length;
        this.onRecord(type, requestId, chunk, 0, chunk.length);
        return null;
      }
    }
    const core = this.core;
    const saved = depth > 0 ? core.scratch.slice(SCRATCH_FRAGMENTS, SCRATCH_FRAGMENTS + 4 * FRAGMENT_CAPACITY) : null;
    depth++;
    try {
      let start = 0;
      while (start < chunk.length) {
        const n = core.scanRecords(chunk, start, this.state);
        if (n < 0) return (this.failed = protocolError(n));
        start = this.state[ST_CONSUMED];
        const list = core.scratch;
        this.chunkShare = oneRequestShare(list, n);
        for (let at = SCRATCH_FRAGMENTS, end = at + 4 * n; at < end; at += 4) {
          this.deliver(chunk, list[at], list[at + 1], list[at + 2], list[at + 3]);
        }
        if (this.state[ST_PHASE] === PHASE_FAILED) return (this.failed = protocolError(this.state[ST_ERROR]));
      }
      return null;
    } finally {
      depth--;
      if (saved !== null) core.scratch.set(saved, SCRATCH_FRAGMENTS);
    }
  }

  private deliver(chunk: Buffer, word0: number, offset: number, length: number, word3: number): void {
    const type = word0 & 0xff;
    const flags = (word0 >>> 8) & 0xff;
    const requestId = word0 >>> 16;
    // Stream records go on piece by piece, except on id 0, where there are no streams: a record there is
    // a management record (or answered as one), gathered whole so that it is answered once.
    if ((isStreamType(type) && requestId !== 0) || (flags & (FRAG_FIRST | FRAG_LAST)) === (FRAG_FIRST | FRAG_LAST)) {
      this.onRecord(type, requestId, chunk, offset, length);
      return;
    }
    // A non-stream record cut by a chunk boundary: gather it once.
    if (flags & FRAG_FIRST) {
      this.carry = Buffer.allocUnsafe(word3 & 0xffff);
      this.carryFill = 0;
    }
    const carry = this.carry!;
    chunk.copy(carry, this.carryFill, offset, offset + length);
    this.carryFill += length;
    if (flags & FRAG_LAST) {
      this.carry = null;
      this.onRecord(type, requestId, carry, 0, carry.length);
    }
  }
}

/** The body-stream content bytes among `n` fragments in scratch when they all belong to one request, else 0. */
function oneRequestShare(list: Uint32Array, n: number): number {
  let id = -1;
  let total = 0;
  for (let at = SCRATCH_FRAGMENTS, end = at + 4 * n; at < end; at += 4) {
    const word0 = list[at];
    const type = word0 & 0xff;
    if (type < RecordType.STDIN || type > RecordType.DATA) continue;
    const requestId = word0 >>> 16;
    if (id !== requestId) {
      if (id !== -1) return 0;
      id = requestId;
    }
    total += list[at + 2];
  }
  return id === 0 ? 0 : total;
}
