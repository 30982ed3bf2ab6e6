/**
 * The request side: a real http.IncomingMessage filled from an exchange, so that code written for node:http
 * (and frameworks that swap its prototype) sees what it expects.
 */
import { IncomingMessage } from 'node:http';
import type { Params } from '../codec/index.js';
import { headerKeyOf } from '../codec/known-names.js';
import type { Exchange, Role } from '../exchange.js';
import type { ExchangeSocket } from './socket.js';

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

/** rawHeaders as node:http would give them, from the params in wire order (names lower-case: CGI keeps no case). */
function rawHeadersOf(params: Params): string[] {
  const raw: string[] = [];
  let sawType = false, sawLength = false;
  for (const [name, value] of params.entries()) {
    if (name === 'CONTENT_TYPE' && value !== '') { raw.push('content-type', value); sawType = true; continue; }
    if (name === 'CONTENT_LENGTH' && value !== '') { raw.push('content-length', value); sawLength = true; continue; }
    const key = headerKeyOf(name);
    if (key === null) continue;
    // nginx sends HTTP_CONTENT_TYPE/LENGTH beside the CGI ones: one header, not two.
    if ((key === 'content-type' && sawType) || (key === 'content-length' && sawLength)) continue;
    raw.push(key, value);
  }
  return raw;
}

export function createRequest(exchange: Exchange, socket: ExchangeSocket): CgiRequest {
  const req = new IncomingMessage(socket as never) as CgiRequest;
  const head = exchange.head;
  const params = exchange.params;
  req.method = head.method;
  req.url = head.url;
  const version = /^HTTP\/(\d+)\.(\d+)$/.exec(params.get('SERVER_PROTOCOL') ?? '');
  req.httpVersionMajor = version ? Number(version[1]) : 1;
  req.httpVersionMinor = version ? Number(version[2]) : 1;
  req.httpVersion = `${req.httpVersionMajor}.${req.httpVersionMinor}`;
  req.headers = head.headers as IncomingMessage['headers'];
  let raw: string[] | undefined;
  // Own properties, so they survive a framework replacing the prototype.
  Object.defineProperty(req, 'rawHeaders', {
    configurable: true, enumerable: true,
    get: () => (raw ??= rawHeadersOf(params)),
    set: (v: string[]) => { raw = v; },
  });
  req.cgi = params;
  req.role = exchange.role;
  req.signal = exchange.signal;
  if (exchange.role === 'filter') {
    req.dataLength = exchange.dataLength;
    req.dataLastModified = exchange.dataLastModified;
  }
  // Reading more of the body: the connection may read from the web server again (Readable#_read contract).
  req._read = () => exchange.resumeBody();
  return req;
}
