/**
 * The node:http-compatible face of an exchange: `bind` gives the (req, res) pair a handler receives.
 */
import { Readable } from 'node:stream';
import type { Exchange, ExchangeListener } from '../exchange.js';
import { emitResponseDrain } from '../node-internals.js';
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

/** Whether the request announced a body (CONTENT_LENGTH above 0; nginx sends one for every body). */
function expectsBody(req: CgiRequest): boolean {
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0' && length !== '';
}

/** Connects an exchange to its req, res and socket (one object instead of a closure per event). */
class Binding implements ExchangeListener {
  data: Readable | undefined;

  constructor(readonly exchange: Exchange, readonly req: CgiRequest, readonly res: CgiResponse,
    readonly socket: ExchangeSocket) {}

  body(chunk: Buffer): boolean {
    this.socket.received(chunk.length);
    return this.req.push(chunk);
  }

  bodyEnd(): void {
    this.req.complete = true;
    this.req.push(null);
  }

  dataPiece(chunk: Buffer): boolean {
    return this.data?.push(chunk) ?? true;
  }

  dataEnd(): void {
    this.data?.push(null);
  }

  abort(reason: Error): void {
    // Socket first, as node:http does: req.destroy(err) on a live socket destroys the socket *with* err, and
    // every 'error' listener on it (on-finished: Koa, Express' finalhandler...) then reports it.
    this.socket.destroy();
    this.req.destroy(reason);
  }

  drain(): void {
    this.socket.drained();
    // node:http's server tells the response when its socket drains; so does this (see node-internals.ts).
    if (this.res.writableNeedDrain) emitResponseDrain(this.res);
  }

  /** res 'finish': the response is complete. */
  finished(): void {
    this.exchange.end(0);
    const req = this.req;
    // The request ends with its response. A body that has all come but was not read is discarded, as
    // node:http does ('end', then 'close'); an announced one still coming never will (the connection stops
    // taking it once END_REQUEST is out), so the request is closed rather than left waiting for ever.
    if (!req.complete && expectsBody(req)) req.destroy();
    else {
      // No body was announced (a GET whose empty STDIN is still on its way): the request is whole.
      if (!req.complete) this.bodyEnd();
      if (req.listenerCount('data') === 0 && !req.readableFlowing) req.resume();
    }
    this.socket.destroy();
  }
}

/** Creates req and res for an exchange and wires body, backpressure, abort and the end of the response. */
export function bind(exchange: Exchange, bodyBufferBytes: number): { req: CgiRequest; res: CgiResponse } {
  const socket = new ExchangeSocket(exchange, addressesOf(exchange), bodyBufferBytes);
  const req = createRequest(exchange, socket);
  socket.request = req;
  const res = createResponse(exchange, req, socket);
  const binding = new Binding(exchange, req, res, socket);
  if (exchange.role === 'filter') {
    req.data = binding.data = new Readable({ highWaterMark: bodyBufferBytes, read: () => exchange.resumeBody() });
  }
  res.on('finish', () => binding.finished());
  exchange.attach(binding);
  return { req, res };
}
