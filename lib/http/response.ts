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

export function createResponse(exchange: Exchange, req: CgiRequest, socket: ExchangeSocket): CgiResponse {
  const res = new ServerResponse(req) as CgiResponse;
  // The web server owns the HTTP connection: no chunked coding, no keep-alive headers of our own.
  res.useChunkedEncodingByDefault = false;
  res.shouldKeepAlive = false;
  res.assignSocket(socket as never);
  let stderr: Writable | undefined;
  Object.defineProperty(res, 'stderr', {
    configurable: true, enumerable: false,
    get: () => (stderr ??= new Writable({
      write(chunk: Buffer, _enc, cb) { exchange.writeStderr(chunk); cb(); },
    })),
  });
  return res;
}
