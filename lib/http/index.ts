/**
 * The node:http-compatible face of an exchange: `bind` gives the (req, res) pair a handler receives.
 */
import { Readable } from 'node:stream';
import type { Exchange } from '../exchange.js';
import { createRequest, type CgiRequest } from './request.js';
import { createResponse, type CgiResponse } from './response.js';
import { ExchangeSocket, type SocketAddresses } from './socket.js';

export type { CgiRequest } from './request.js';
export type { CgiResponse } from './response.js';
export { ExchangeSocket } from './socket.js';

function port(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

/** The peer and local addresses from the CGI params (RFC 3875: REMOTE_ADDR, REMOTE_PORT, SERVER_ADDR...). */
export function addressesOf(exchange: Exchange): SocketAddresses {
  const h = exchange.head;
  const https = h.https;
  return {
    remoteAddress: h.remoteAddress || undefined,
    remotePort: port(h.remotePort),
    localAddress: h.localAddress || undefined,
    localPort: port(h.localPort),
    encrypted: https !== undefined && https !== '' && https.toLowerCase() !== 'off',
  };
}

/** Creates req and res for an exchange and wires body, backpressure, abort and the end of the response. */
export function bind(exchange: Exchange, bodyBufferBytes: number): { req: CgiRequest; res: CgiResponse } {
  const socket = new ExchangeSocket(exchange, addressesOf(exchange), bodyBufferBytes);
  const req = createRequest(exchange, socket);
  const res = createResponse(exchange, req, socket);
  socket.on('drain', () => res.emit('drain'));
  socket.on('error', () => { /* reported through the exchange; a socket error must not crash the process */ });
  res.on('finish', () => {
    exchange.end(0);
    // As node:http does after a response: a body nobody read is discarded, then both sides close.
    if (!req.complete && req.listenerCount('data') === 0 && !req.readableFlowing) req.resume();
    process.nextTick(() => socket.destroy());
  });
  let data: Readable | undefined;
  if (exchange.role === 'filter') req.data = data = new Readable({ read: () => {} });
  exchange.attach({
    data: (chunk) => data?.push(chunk) ?? true,
    dataEnd: () => { data?.push(null); },
    body: (chunk) => req.push(chunk),
    bodyEnd: () => { req.complete = true; req.push(null); },
    abort: (reason) => {
      req.destroy(reason);
      socket.destroy();
    },
    drain: () => socket.drained(),
  });
  return { req, res };
}
