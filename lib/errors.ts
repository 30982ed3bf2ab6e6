/**
 * Errors with stable `code` strings. The protocol core (native or TypeScript) reports faults in the
 * peer's bytes as negative numbers; {@link protocolError} turns each into one of these classes.
 * The numbers are those of native/codes.h; test/codec/errors.test.ts keeps the two lists in step.
 */

/** Base class of every error cgiwire raises; `code` never changes between releases. */
export class CgiwireError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The peer broke a rule of FastCGI 1.0. The connection cannot be trusted after it. */
export class FastCgiProtocolError extends CgiwireError {}
/** The peer sent more than a configured limit allows. */
export class LimitError extends CgiwireError {}
/** The peer broke a rule of the SCGI protocol. */
export class ScgiProtocolError extends CgiwireError {}

type ErrorClass = new (code: string, message: string) => CgiwireError;

/** Every code the core can return, with its class, stable name and message. */
export const CORE_ERRORS: ReadonlyMap<number, readonly [ErrorClass, string, string]> = new Map([
  [-1, [FastCgiProtocolError, 'ERR_FASTCGI_BAD_VERSION', 'FastCGI record version is not 1']],
  [-10, [FastCgiProtocolError, 'ERR_FASTCGI_PAIRS_TRUNCATED', 'a name-value pair runs past the end of its stream']],
  [-11, [LimitError, 'ERR_FASTCGI_PARAMS_TOO_LARGE', 'the params are larger than maxParamsBytes']],
  [-12, [LimitError, 'ERR_FASTCGI_TOO_MANY_PARAMS', 'there are more params than maxParams']],
  [-13, [LimitError, 'ERR_FASTCGI_PARAM_NAME_TOO_LONG', 'a param name is longer than maxParamNameLength']],
  [-14, [LimitError, 'ERR_FASTCGI_PARAM_VALUE_TOO_LONG', 'a param value is longer than maxParamValueLength']],
  [-20, [ScgiProtocolError, 'ERR_SCGI_BAD_NETSTRING', 'the SCGI header is not a valid netstring']],
  [-21, [LimitError, 'ERR_SCGI_HEADER_TOO_LARGE', 'the SCGI header is larger than maxHeaderBytes']],
  [-22, [ScgiProtocolError, 'ERR_SCGI_BAD_HEADER', 'the SCGI header is not a list of NAME\\0VALUE\\0 pairs']],
  [-23, [ScgiProtocolError, 'ERR_SCGI_NO_CONTENT_LENGTH', 'the first SCGI header is not CONTENT_LENGTH']],
  [-24, [ScgiProtocolError, 'ERR_SCGI_BAD_CONTENT_LENGTH', 'SCGI CONTENT_LENGTH is not a plain decimal number']],
  [-25, [ScgiProtocolError, 'ERR_SCGI_NO_SCGI', 'the SCGI header has no SCGI=1']],
  [-26, [ScgiProtocolError, 'ERR_SCGI_DUPLICATE_HEADER', 'an SCGI header name appears twice']],
]);

/** The error for a negative code returned by the core. */
export function protocolError(code: number): CgiwireError {
  const entry = CORE_ERRORS.get(code);
  if (entry === undefined) return new CgiwireError('ERR_CGIWIRE_INTERNAL', `unknown core result ${code}`);
  const [Class, name, message] = entry;
  return new Class(name, message);
}

/**
 * A RangeError with node's code ERR_OUT_OF_RANGE: a number option or argument outside what it may be. Such
 * misuse by the caller is reported as node reports its own, not as a CgiwireError (which is about the peer).
 */
export function outOfRange(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: 'ERR_OUT_OF_RANGE' });
}
