/**
 * Picks the codec at load time: the native core when the addon loads, the TypeScript twin otherwise.
 * CGIWIRE_CODEC=js or CGIWIRE_CODEC=native forces one; native forced but missing is an error.
 */
import { Codec } from './codec.js';
import { createJsCore } from './js.js';
import { createNativeCore } from './native.js';
import { CgiwireError } from '../errors.js';

export type CodecName = 'native' | 'js';

/** Why the native codec did not load, when it did not; undefined when it did. */
export let nativeLoadError: Error | undefined;

/** A codec over the named core. `'native'` throws ERR_CGIWIRE_NATIVE_UNAVAILABLE when the addon cannot load. */
export function createCodec(name: CodecName): Codec {
  if (name === 'js') return new Codec(createJsCore());
  try {
    return new Codec(createNativeCore());
  } catch (err) {
    const e = new CgiwireError('ERR_CGIWIRE_NATIVE_UNAVAILABLE',
      `the native codec could not be loaded: ${(err as Error).message}`);
    (e as Error).cause = err;
    throw e;
  }
}

function pick(): Codec {
  const forced = process.env.CGIWIRE_CODEC;
  if (forced === 'js' || forced === 'native') return createCodec(forced);
  if (forced !== undefined && forced !== '') {
    throw new CgiwireError('ERR_CGIWIRE_BAD_CODEC', `CGIWIRE_CODEC must be "native" or "js", not ${JSON.stringify(forced)}`);
  }
  try {
    return createCodec('native');
  } catch (err) {
    nativeLoadError = err as Error;
    return createCodec('js');
  }
}

/** The codec this process uses. */
export const codec: Codec = pick();
/** Its name: `'native'` or `'js'`. */
export const codecName: CodecName = codec.name;

export { Codec } from './codec.js';
export type { DecodedScgiHeader } from './codec.js';
export type { CodecCore } from './core.js';
export { RecordReader, RecordType, isStreamType, contentPiece, RETAIN_RATIO, type RecordCallback } from './records.js';
export { NetstringReader } from './scgi.js';
export {
  Params, DEFAULT_PARAMS_LIMITS, BUILD_HEAD, BUILD_NOTHING, BUILD_OBJECT, clearShapeCache,
  type ParamsLimits, type RequestHead, type RequestHeaders, type DecodedParams,
} from './params.js';
export {
  encodeStream, encodeStreamEnd, encodeTextRecord, encodeBeginRequest, encodeEndRequest, encodeResponseEnd, encodeAbortRequest, encodeUnknownType, encodeParams, encodeRequestStart,
  encodePairBody, encodeGetValues, encodeGetValuesResult, encodeScgiHeader, MAX_STREAM_RECORD, COALESCE_BELOW,
  type PairPart,
} from './encode.js';
