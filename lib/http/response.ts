/**
 * The response side: a real http.ServerResponse writing through an ExchangeSocket, which turns its output
 * into a CGI response. The FastCGI STDERR stream is `res.stderr`.
 */
import { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import type { Exchange } from '../exchange.js';
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
  Object.defineProperty(res, 'stderr', STDERR_PROPERTY);
  return res;
}
