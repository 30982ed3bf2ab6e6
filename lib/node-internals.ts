/**
 * The only module that touches Node internals; test/server/node-internals.test.ts fails if a Node release
 * moves them, and each falls back to doing without when it is not found.
 * - net.Socket's `_handle.fd`: the file descriptor, to set a socket option Node does not expose
 *   (TCP_QUICKACK, native/binding.cc).
 * - ServerResponse's kNeedDrain flag: node:http's server clears it when the socket drains, before emitting
 *   'drain' on the response; cgiwire's socket facade does the same, or `res.writableNeedDrain` would stay
 *   true and a later `stream.pipe(res)` would wait for a 'drain' that never comes.
 * - IncomingMessage's kHeadersCount: how many rawHeaders entries node's parser filled. Its headersDistinct
 *   getter reads that many; cgiwire fills rawHeaders itself, so it sets the count (one store per request; an
 *   own accessor in its place cost several hundred ns per request).
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { quickAck } from './codec/native.js';

const kNeedDrain: symbol | undefined = Object.getOwnPropertySymbols(new ServerResponse(new IncomingMessage(null as never)))
  .find((s) => s.description === 'kNeedDrain');

const kHeadersCount: symbol | undefined = Object.getOwnPropertySymbols(new IncomingMessage(null as never))
  .find((s) => s.description === 'kHeadersCount');

/** True when the kHeadersCount field was found on this Node (for the test). */
export const headersCountFound = kHeadersCount !== undefined;

/** Makes req.headersDistinct (node's own getter) read req.rawHeaders; without the field it stays {}. */
export function setRawHeadersCount(req: IncomingMessage, count: number): void {
  if (kHeadersCount !== undefined) (req as unknown as Record<symbol, number>)[kHeadersCount] = count;
}

/** What node:http's server does when a response's socket drains: clear kNeedDrain, emit 'drain'. */
export function emitResponseDrain(res: ServerResponse): void {
  if (res.writableFinished || res.destroyed) return;
  if (kNeedDrain !== undefined) (res as unknown as Record<symbol, boolean>)[kNeedDrain] = false;
  res.emit('drain');
}

/** True when the kNeedDrain flag was found on this Node (for the test). */
export const responseDrainFlagFound = kNeedDrain !== undefined;

export function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * A function that asks for immediate ACKs on a TCP socket, or null for a unix socket or where it cannot be
 * done. Called after reads while a request body is still arriving (the mode lapses after a while).
 */
export function quickAcker(socket: Socket): (() => void) | null {
  if (socket.remoteFamily !== 'IPv4' && socket.remoteFamily !== 'IPv6') return null;
  const fd = socketFd(socket);
  if (fd === undefined || !quickAck(fd)) return null;
  return () => { quickAck(fd); };
}
