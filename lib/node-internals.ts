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
 * - ServerResponse's head: writeHead (and the implicit head of a first write or end) hands the status line
 *   and the headers to `this._storeHeader(statusLine, headers)`, which leaves the head text in `_header`
 *   (`_headerSent` false: `_send` puts it before the first body bytes). `headers` is either the response's
 *   kOutHeaders map (`{ lowercase: [name, value] }`, checked by setHeader) or what writeHead was given.
 *   cgiwire stores a CGI header block there instead of an HTTP one (lib/http/response.ts).
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { quickAck } from './codec/native.js';

/** The symbol-keyed fields of a fresh ServerResponse, where two of the internals below live. */
const responseSymbols = Object.getOwnPropertySymbols(new ServerResponse(new IncomingMessage(null as never)));
const kNeedDrain: symbol | undefined = responseSymbols.find((s) => s.description === 'kNeedDrain');
const kOutHeaders: symbol | undefined = responseSymbols.find((s) => s.description === 'kOutHeaders');

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

/** True when the kOutHeaders field was found on this Node (for the test). */
export const outHeadersFound = kOutHeaders !== undefined;

/** The part of OutgoingMessage a replaced `_storeHeader` works with. */
export interface StoredHead {
  _storeHeader(statusLine: string, headers: unknown): void;
  _header: string | null;
  _headerSent: boolean;
  /** With _removedContLen: what node's strictContentLength check at end() reads. */
  _contentLength: number | null;
  _removedContLen: boolean;
  _last: boolean;
}

/**
 * True when `headers`, given to `_storeHeader`, is the response's own map of setHeader's headers (entries
 * `[name, value]`) rather than what writeHead was given. Without the field: writeHead passes its map exactly
 * when a header has been set (a map emptied by removeHeader holds nothing either way).
 */
export function isOwnHeaderMap(res: ServerResponse, headers: unknown): boolean {
  if (kOutHeaders !== undefined) return headers === (res as unknown as Record<symbol, unknown>)[kOutHeaders];
  return !Array.isArray(headers) && res.getHeaderNames().length > 0;
}

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
