/**
 * The response side: a real http.ServerResponse writing through an ExchangeSocket. Its head is stored as a
 * CGI header block (RFC 3875, 6.2) where node:http would store an HTTP/1.1 one: `_storeHeader` is replaced
 * on each response (an own property, so it survives a framework replacing the prototype, as Express does),
 * and the socket passes that block on as the response's first bytes. The FastCGI STDERR stream is
 * `res.stderr`.
 */
import { ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';
import { Writable } from 'node:stream';
import type { Exchange } from '../exchange.js';
import { isOwnHeaderMap, type StoredHead } from '../node-internals.js';
import { HOP_BY_HOP } from './hop-by-hop.js';
import type { CgiRequest } from './request.js';
import type { ExchangeSocket } from './socket.js';

export interface CgiResponseFields {
  /** The FastCGI STDERR stream: what is written here ends up in the web server's error log. */
  readonly stderr: Writable;
}

export type CgiResponse = ServerResponse<CgiRequest> & CgiResponseFields;

const EXCHANGE = Symbol('cgiwire.exchange');
const STDERR = Symbol('cgiwire.stderr');
type Holder = { [EXCHANGE]: Exchange; [STDERR]?: Writable };
/** res.stderr, made on first use; a shared descriptor keeps defineProperty cheap (see request.ts). */
const STDERR_PROPERTY: PropertyDescriptor = {
  configurable: true, enumerable: false,
  get(this: Holder) {
    const exchange = this[EXCHANGE];
    return (this[STDERR] ??= new Writable({ write(chunk: Buffer, _enc, cb) { exchange.writeStderr(chunk); cb(); } }));
  },
};

export function createResponse(exchange: Exchange, req: CgiRequest, socket: ExchangeSocket): CgiResponse {
  const res = new ServerResponse(req) as CgiResponse;
  // The web server owns the HTTP connection: no chunked coding, no keep-alive headers of our own.
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = false;
  res.assignSocket(socket as never);
  (res as unknown as Holder)[EXCHANGE] = exchange;
  (res as unknown as StoredHead)._storeHeader = storeCgiHead;
  Object.defineProperty(res, 'stderr', STDERR_PROPERTY);
  return res;
}

// ---- The head ------------------------------------------------------------------------------------

/**
 * Response headers not passed to the web server: the hop-by-hop ones (it owns the connection), and a
 * handler's own Status header (the status comes from res.statusCode; two Status lines would leave the web
 * server to pick one). node:http's automatic Date is not written either: the web server dates the response.
 */
const DROPPED = new Set([...HOP_BY_HOP, 'status']);
/** 1 at the lengths of the names looked at (those, Location, Content-Length): any other name passes as it is. */
const SPECIAL_LENGTH = new Uint8Array(18);
for (const name of [...DROPPED, 'location', 'content-length']) SPECIAL_LENGTH[name.length] = 1;

// The block being built. One head is built at a time (synchronously), so these need no object per response.
let lines = '';
let location = '';
/** A Trailer header was given; a Transfer-Encoding naming chunked was given (node:http would then chunk). */
let trailer = false;
let chunked = false;
/** node:http's test for a Transfer-Encoding that makes it chunk the body. */
const CHUNKED = /(?:^|\W)chunked(?:$|\W)/i;

function addLine(res: StoredHead, name: string, value: unknown, validate: boolean): void {
  // One conversion, checked and written: a value whose toString changes between calls cannot pass the check
  // with one text and be written with another.
  const text = value === undefined ? undefined : String(value);
  if (validate) validateHeaderValue(name, text as string);
  const line = name + ': ' + text + '\r\n';
  if (name.length < SPECIAL_LENGTH.length && SPECIAL_LENGTH[name.length] === 1) {
    const key = name.toLowerCase();
    // HAProxy 2.6 turns 301 into 302 unless Location comes before Status: so Location goes first.
    if (key === 'location') { location += line; return; }
    if (key === 'content-length') {
      // What node:http's strictContentLength check at end() reads, as its own head sets them.
      res._contentLength = Number(text);
      res._removedContLen = false;
    } else if (DROPPED.has(key)) {
      if (key === 'trailer') trailer = true;
      else if (key === 'transfer-encoding' && CHUNKED.test(text as string)) chunked = true;
      return;
    }
  }
  lines += line;
}

/** One header as node:http writes it: an array value makes a line per element, except Cookie (joined). */
function addHeader(res: StoredHead, name: string, value: unknown, validate: boolean): void {
  if (validate) validateHeaderName(name);
  if (Array.isArray(value)) {
    if (value.length < 2 || name.length !== 6 || name.toLowerCase() !== 'cookie') {
      for (let i = 0; i < value.length; i++) addLine(res, name, value[i], validate);
      return;
    }
    value = value.join('; ');
  }
  addLine(res, name, value, validate);
}

function addHeaders(res: ServerResponse & StoredHead, headers: unknown): void {
  if (headers === null || typeof headers !== 'object') return;
  if (isOwnHeaderMap(res, headers)) {
    // setHeader checked these already.
    const map = headers as Record<string, [string, unknown]>;
    for (const key in map) addHeader(res, map[key][0], map[key][1], false);
  } else if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown[][]) addHeader(res, pair[0] as string, pair[1], true);
      return;
    }
    if (headers.length % 2 !== 0) {
      throw Object.assign(new TypeError("The argument 'headers' is invalid: an odd number of names and values"),
        { code: 'ERR_INVALID_ARG_VALUE' });
    }
    for (let i = 0; i < headers.length; i += 2) addHeader(res, headers[i] as string, headers[i + 1], true);
  } else {
    const object = headers as Record<string, unknown>;
    for (const key in object) if (Object.hasOwn(object, key)) addHeader(res, key, object[key], true);
  }
}

/**
 * ServerResponse#_storeHeader for a CGI response: `statusLine` ("HTTP/1.1 301 Moved\r\n") becomes the
 * Status header, Location goes first, dropped headers are left out. A header node:http refuses throws
 * before anything is stored, as node's own does.
 */
function storeCgiHead(this: ServerResponse & StoredHead, statusLine: string, headers: unknown): void {
  lines = '';
  location = '';
  trailer = false;
  chunked = false;
  addHeaders(this, headers);
  // node:http's rules: a Trailer header needs a chunked body, and a 204 or 304 is never chunked. This side
  // never chunks (the web server frames the body), so the trailers themselves are not sent.
  const chunkedByNode = chunked && this.statusCode !== 204 && this.statusCode !== 304;
  if (trailer && !chunkedByNode) {
    throw Object.assign(new Error('Trailers are invalid on a response that is not chunked'), { code: 'ERR_HTTP_TRAILER_INVALID' });
  }
  // node:http does not hold a chunked body to Content-Length.
  if (chunkedByNode) this._contentLength = null;
  let status = statusLine.slice(statusLine.indexOf(' ') + 1, statusLine.length - 2);
  // A final 1xx (writeHead(101) for an upgrade): CGI cannot carry one, and the web server would get none.
  if (status.charCodeAt(0) === 0x31) status = '500 Internal Server Error';
  const head = location + 'Status: ' + status + '\r\n' + lines + '\r\n';
  lines = '';
  location = '';
  // What node's own head sets when the connection is not kept alive (shouldKeepAlive is false here).
  this._last = true;
  this._header = head;
  this._headerSent = false;
  (this.socket as ExchangeSocket | null)?.headStored(head.length);
}
