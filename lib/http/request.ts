/**
 * The request side: a real http.IncomingMessage filled from an exchange, so that code written for node:http
 * (and frameworks that swap its prototype) sees what it expects.
 */
import { IncomingMessage } from 'node:http';
import type { Params } from '../codec/index.js';
import type { Exchange, Role } from '../exchange.js';
import type { ExchangeSocket } from './socket.js';
import { setRawHeadersCount } from '../node-internals.js';

/** What cgiwire adds to an IncomingMessage. */
export interface CgiRequestFields {
  /** Every CGI param (FastCGI PARAMS or SCGI headers), byte-safe: `get` (latin1), `raw` (bytes), `toObject`. */
  cgi: Params;
  /** The FastCGI role of the request (an SCGI request is a responder). */
  role: Role;
  /** Fires when the web server aborts the request or the connection drops. */
  signal: AbortSignal;
  /** FILTER: the DATA stream (the file to filter) with its FCGI_DATA_LENGTH and FCGI_DATA_LAST_MOD. */
  data?: import('node:stream').Readable;
  dataLength?: number;
  dataLastModified?: number;
}

export type CgiRequest = IncomingMessage & CgiRequestFields;

const EXCHANGE = Symbol('cgiwire.exchange');
/**
 * req.signal: an own accessor (it must survive a framework replacing the prototype) made lazily, because an
 * AbortController costs more than the rest of the request. One shared descriptor keeps V8's map
 * transitions shared: a closure per request made each defineProperty cost 3 us.
 */
const SIGNAL: PropertyDescriptor = {
  configurable: true, enumerable: true,
  get(this: { [EXCHANGE]: Exchange }) { return this[EXCHANGE].signal; },
};

export function createRequest(exchange: Exchange, socket: ExchangeSocket): CgiRequest {
  const req = new IncomingMessage(socket as never) as CgiRequest;
  const head = exchange.head;
  const params = exchange.params;
  req.method = head.method;
  req.url = head.url;
  const protocol = head.protocol;
  if (protocol === 'HTTP/1.1' || protocol === undefined) {
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.httpVersion = '1.1';
  } else {
    const version = /^HTTP\/(\d+)(?:\.(\d+))?$/.exec(protocol);
    req.httpVersionMajor = version ? Number(version[1]) : 1;
    req.httpVersionMinor = version ? Number(version[2] ?? 0) : 1;
    req.httpVersion = `${req.httpVersionMajor}.${req.httpVersionMinor}`;
  }
  // Own data properties (they survive a framework replacing the prototype, and keep the object fast).
  req.headers = head.headers as IncomingMessage['headers'];
  req.rawHeaders = head.rawHeaders;
  setRawHeadersCount(req, head.rawHeaders.length);
  req.cgi = params;
  req.role = exchange.role;
  (req as unknown as { [EXCHANGE]: Exchange })[EXCHANGE] = exchange;
  Object.defineProperty(req, 'signal', SIGNAL);
  if (exchange.role === 'filter') {
    req.dataLength = exchange.dataLength;
    req.dataLastModified = exchange.dataLastModified;
  }
  // Reading more of the body: the connection may read from the web server again (Readable#_read contract).
  req._read = () => exchange.resumeBody();
  return req;
}
