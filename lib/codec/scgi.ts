/**
 * The SCGI request header: `<length>:<NAME\0VALUE\0 ...>,` then CONTENT_LENGTH body bytes.
 * The reader gathers the netstring across chunks (a view when it arrives whole, one copy otherwise).
 */
import { FRAG_FIRST, FRAG_LAST, NETSTRING_STATE_WORDS, NS_CONSUMED, NS_PHASE, NS_DONE, SCRATCH_FRAGMENTS,
  type CodecCore } from './core.js';
import { type CgiwireError, outOfRange, protocolError } from '../errors.js';

/** The first size of a header gathered across chunks (it grows by doubling). */
const CARRY_START = 16384;

export class NetstringReader {
  private readonly state = new Int32Array(NETSTRING_STATE_WORDS);
  private carry: Buffer | null = null;
  private carryFill = 0;
  private carryDeclared = 0;
  private failed: CgiwireError | null = null;
  /** The header bytes (between ':' and ','), once {@link done}. */
  header: Buffer | null = null;

  private readonly maxHeaderBytes: number;

  /**
   * @param maxHeaderBytes the largest declared length accepted, refused as soon as its digits exceed it;
   * at most 2^31-1 (a larger value, Infinity included, means that).
   */
  constructor(private readonly core: CodecCore, maxHeaderBytes: number) {
    if (!(maxHeaderBytes >= 0)) {
      throw outOfRange(`maxHeaderBytes must be a number >= 0; got ${String(maxHeaderBytes)}`);
    }
    this.maxHeaderBytes = Math.min(Math.floor(maxHeaderBytes), 0x7fffffff);
  }

  get done(): boolean {
    return this.state[NS_PHASE] === NS_DONE;
  }

  /**
   * Reads a chunk. Returns the offset in `chunk` where the body begins once the netstring is complete,
   * -1 while more is needed, or the error that makes the request invalid.
   */
  push(chunk: Buffer): number | CgiwireError {
    if (this.failed) return this.failed;
    if (this.done) return 0;
    const core = this.core;
    let start = 0;
    while (start < chunk.length && !this.done) {
      const n = core.scanNetstring(chunk, start, this.state, this.maxHeaderBytes);
      if (n < 0) return (this.failed = protocolError(n));
      start = this.state[NS_CONSUMED];
      const s = core.scratch;
      for (let i = 0; i < n; i++) {
        const f = SCRATCH_FRAGMENTS + 4 * i;
        const flags = (s[f] >>> 8) & 0xff, offset = s[f + 1], length = s[f + 2], declared = s[f + 3];
        if ((flags & (FRAG_FIRST | FRAG_LAST)) === (FRAG_FIRST | FRAG_LAST)) {
          this.header = chunk.subarray(offset, offset + length);
          continue;
        }
        if (flags & FRAG_FIRST) {
          this.carryDeclared = declared;
          this.carry = Buffer.allocUnsafe(Math.min(declared, Math.max(length, CARRY_START)));
          this.carryFill = 0;
        }
        this.append(chunk, offset, length);
        if (flags & FRAG_LAST) {
          this.header = this.carry!.subarray(0, this.carryFill);
          this.carry = null;
        }
      }
    }
    return this.done ? start : -1;
  }

  /**
   * Adds header bytes to the carry, which grows by doubling up to the declared length: memory follows the
   * bytes received, so a peer announcing a large header and sending little holds little.
   */
  private append(chunk: Buffer, offset: number, length: number): void {
    let carry = this.carry!;
    const need = this.carryFill + length;
    if (need > carry.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.carryDeclared, Math.max(need, carry.length * 2)));
      carry.copy(grown, 0, 0, this.carryFill);
      this.carry = carry = grown;
    }
    chunk.copy(carry, this.carryFill, offset, offset + length);
    this.carryFill = need;
  }
}
