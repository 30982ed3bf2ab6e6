/**
 * FastCGI record reading on top of a core: one scan call per chunk, then one callback per record piece.
 * Stream content (PARAMS, STDIN, STDOUT, STDERR, DATA) is handed on as views of the chunk, never copied;
 * only a non-stream record cut by a chunk boundary is copied, once, into a buffer of its exact size.
 */
import { FRAG_FIRST, FRAG_LAST, SCRATCH_ENTRIES, ST_CONSUMED, RECORD_STATE_WORDS, type CodecCore } from './core.js';
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
 * Receives what a {@link RecordReader} reads. For a stream type, `content` is the next piece of that
 * request's stream (record boundaries carry no meaning) and an empty piece ends the stream. For any other
 * type, including types this version does not know, `content` is the record's whole content.
 */
export type RecordCallback = (type: number, requestId: number, content: Buffer) => void;

// Fragment lists for nested pushes: a callback may push into another reader before returning.
const fragmentLists: Uint32Array[] = [];
let depth = 0;

export class RecordReader {
  private readonly state = new Int32Array(RECORD_STATE_WORDS);
  private carry: Buffer | null = null;
  private carryFill = 0;
  private failed: CgiwireError | null = null;

  constructor(private readonly core: CodecCore, private readonly onRecord: RecordCallback) {}

  /**
   * Reads a chunk of any size. Returns null, or the error that broke the stream (bad version): the
   * connection cannot be resynchronised after it, and every later push returns the same error.
   */
  push(chunk: Buffer): CgiwireError | null {
    if (this.failed) return this.failed;
    const core = this.core;
    let list = fragmentLists[depth];
    if (list === undefined || list.length < core.scratch.length) {
      list = fragmentLists[depth] = new Uint32Array(core.scratch.length);
    }
    depth++;
    try {
      let start = 0;
      while (start < chunk.length) {
        const n = core.scanRecords(chunk, start, this.state);
        if (n < 0) return (this.failed = protocolError(n));
        start = this.state[ST_CONSUMED];
        const scratch = core.scratch;
        const words = 4 * n;
        for (let i = 0; i < words; i++) list[i] = scratch[SCRATCH_ENTRIES + i];
        for (let i = 0; i < words; i += 4) this.deliver(chunk, list[i], list[i + 1], list[i + 2], list[i + 3]);
      }
      return null;
    } finally {
      depth--;
    }
  }

  private deliver(chunk: Buffer, word0: number, offset: number, length: number, word3: number): void {
    const type = word0 & 0xff;
    const flags = (word0 >>> 8) & 0xff;
    const requestId = word0 >>> 16;
    if (isStreamType(type) || (flags & (FRAG_FIRST | FRAG_LAST)) === (FRAG_FIRST | FRAG_LAST)) {
      this.onRecord(type, requestId, chunk.subarray(offset, offset + length));
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
      this.onRecord(type, requestId, carry);
    }
  }
}
