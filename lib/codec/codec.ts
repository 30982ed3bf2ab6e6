/**
 * The Codec: everything the protocol layers need from bytes, over one core (native or TypeScript).
 * Both cores give identical results; only speed differs.
 */
import type { CodecCore } from './core.js';
import { SCRATCH_COUNT, SCRATCH_LENGTH_HI, SCRATCH_LENGTH_LO, latin1 } from './core.js';
import { RecordReader, type RecordCallback } from './records.js';
import { NetstringReader } from './scgi.js';
import {
  BUILD_HEAD, type DecodedParams, DEFAULT_PARAMS_LIMITS, type PairDecoder, type ParamsLimits, decodeWith,
} from './params.js';
import { encodeStream } from './encode.js';

const FASTCGI_PAIRS: PairDecoder = {
  pairs: (core, buf, begin, end) => core.decodePairs(buf, begin, end),
  pairsText: (core, buf, begin, end) => core.decodePairsText(buf, begin, end),
};
const SCGI_HEADERS: PairDecoder = {
  pairs: (core, buf, begin, end) => core.decodeScgiHeaders(buf, begin, end),
  pairsText: (core, buf, begin, end) => {
    const n = core.decodeScgiHeaders(buf, begin, end);
    if (n < 0) return n;
    core.scratch[SCRATCH_COUNT] = n;
    return latin1(buf, begin, end);
  },
};

/** Limits for management records (GET_VALUES): one record, a few short names. */
const MANAGEMENT_LIMITS: ParamsLimits = Object.freeze({
  maxParamsBytes: 65535, maxParams: 64, maxParamNameLength: 255, maxParamValueLength: 255,
});

/** A decoded SCGI header: its params, the head when asked for, and CONTENT_LENGTH. */
export interface DecodedScgiHeader extends DecodedParams {
  contentLength: number;
}

export class Codec {
  /** `'native'` (the C++ addon) or `'js'` (the TypeScript twin). */
  readonly name: 'native' | 'js';

  constructor(readonly core: CodecCore) {
    this.name = core.name;
  }

  /** A reader for one FastCGI connection's byte stream; see {@link RecordReader}. */
  createRecordReader(onRecord: RecordCallback): RecordReader {
    return new RecordReader(this.core, onRecord);
  }

  /**
   * Decodes a complete PARAMS stream body. Builds method, url and headers right away unless `build` says
   * otherwise (BUILD_NOTHING, BUILD_HEAD, BUILD_OBJECT or both). Throws a CgiwireError on bad bytes.
   */
  decodeParams(buf: Buffer, begin = 0, end = buf.length, limits: ParamsLimits = DEFAULT_PARAMS_LIMITS,
    build = BUILD_HEAD): DecodedParams {
    return decodeWith(this.core, FASTCGI_PAIRS, buf, begin, end, limits, build);
  }

  /** The pairs of a GET_VALUES or GET_VALUES_RESULT record, as [name, value] latin1 strings. */
  decodeNameValues(content: Buffer): [string, string][] {
    return decodeWith(this.core, FASTCGI_PAIRS, content, 0, content.length, MANAGEMENT_LIMITS, 0).params.entries();
  }

  /** A reader for the netstring that opens an SCGI request. */
  createNetstringReader(maxHeaderBytes: number = DEFAULT_PARAMS_LIMITS.maxParamsBytes): NetstringReader {
    return new NetstringReader(this.core, maxHeaderBytes);
  }

  /** Decodes and validates SCGI header bytes (what a NetstringReader gathered). Throws a CgiwireError. */
  decodeScgiHeader(header: Buffer, limits: ParamsLimits = DEFAULT_PARAMS_LIMITS, build = BUILD_HEAD): DecodedScgiHeader {
    const decoded = decodeWith(this.core, SCGI_HEADERS, header, 0, header.length, limits, build);
    const s = this.core.scratch;
    return { ...decoded, contentLength: s[SCRATCH_LENGTH_HI] * 0x100000000 + s[SCRATCH_LENGTH_LO] };
  }

  /** Frames a stream payload as records (see encode.ts). */
  encodeStream(type: number, requestId: number, payload: Buffer, close: boolean): Buffer[] {
    return encodeStream(this.core, type, requestId, payload, close);
  }
}
