/**
 * One SCGI request on the client side: connect, send the header netstring and CONTENT_LENGTH body bytes,
 * read the CGI response until the peer closes (the close ends the response). One request per connection.
 */
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { encodeScgiHeader } from '../codec/index.js';
import { type Address, formatAddress } from '../client/address.js';
import { type ClientCall, ClientError } from '../client/call.js';
import type { PoolConnection, PoolHooks } from '../client/pool.js';

export interface ScgiConnectionOptions {
  connectTimeout: number;
}

/** The SCGI header needs the body length first: from the bytes, or CONTENT_LENGTH for a stream. */
function contentLength(call: ClientCall): number {
  if (call.body === null) return 0;
  if (!(call.body instanceof Readable)) return call.body.length;
  const given = call.params.find(([n]) => n === 'CONTENT_LENGTH')?.[1];
  const text = typeof given === 'string' ? given : given === undefined ? '' : Buffer.from(given).toString('latin1');
  if (!/^\d+$/.test(text)) {
    throw new ClientError('ERR_CGIWIRE_SCGI_LENGTH_REQUIRED', 'an SCGI request body given as a stream needs a CONTENT_LENGTH param');
  }
  return Number(text);
}

export class ScgiClientConnection implements PoolConnection {
  readonly addressText: string;
  readonly capacity = 1;
  private readonly socket: Socket;
  private call: ClientCall | null = null;
  private ready = false;
  private closed = false;
  private used = false;
  private error: Error | null = null;

  constructor(address: Address, private readonly hooks: PoolHooks, options: ScgiConnectionOptions) {
    this.addressText = formatAddress(address);
    const socket = address.path !== undefined ? connect({ path: address.path }) : connect({ host: address.host, port: address.port });
    this.socket = socket;
    const connectTimer = setTimeout(() => this.destroy(new ClientError('ERR_CGIWIRE_CONNECT_TIMEOUT',
      `no connection to ${this.addressText} within ${options.connectTimeout} ms`, this.addressText)), options.connectTimeout);
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      if (address.path === undefined) socket.setNoDelay(true);
      this.ready = true;
      hooks.ready(this);
    });
    socket.on('data', (chunk: Buffer) => {
      const call = this.call;
      if (call !== null && !call.stdout(chunk, 0, chunk.length) && !call.done) socket.pause();
    });
    socket.on('end', () => {
      const call = this.call;
      if (call !== null) call.end(0);
    });
    socket.on('error', (err) => { this.error ??= err; });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      this.closed = true;
      const call = this.call;
      this.call = null;
      const err = this.error;
      if (call !== null && !call.done) {
        call.fail(new ClientError('ERR_CGIWIRE_CONNECTION_CLOSED',
          `the connection to ${this.addressText} closed${err ? `: ${err.message}` : ' before the response ended'}`, this.addressText, { cause: err ?? undefined }));
      }
      hooks.closed(this, err !== null || !this.ready ? (err ?? new ClientError('ERR_CGIWIRE_CONNECTION_CLOSED', 'closed', this.addressText)) : null);
    });
  }

  get active(): number {
    return this.call !== null ? 1 : 0;
  }

  get usable(): boolean {
    return this.ready && !this.used && !this.closed && !this.socket.destroyed;
  }

  start(call: ClientCall): void {
    this.used = true;
    this.call = call;
    call.attach(this);
    let header: Buffer;
    let length: number;
    try {
      length = contentLength(call);
      // Bytes given as a Buffer pass through as latin1, one char per byte; strings in the call's encoding.
      const latin1 = call.paramsEncoding === 'latin1';
      header = encodeScgiHeader(length, call.params.map(([n, v]) => [
        latin1 ? n : Buffer.from(n, 'utf8').toString('latin1'),
        typeof v !== 'string' ? Buffer.from(v).toString('latin1') : latin1 ? v : Buffer.from(v, 'utf8').toString('latin1'),
      ] as const), 'latin1');
    } catch (err) {
      call.fail(err as Error);
      this.destroy();
      return;
    }
    this.socket.write(header);
    const socket = this.socket;
    socket.on('drain', () => call.drain());
    // A stream is held to the CONTENT_LENGTH the header announced: the application reads exactly that many
    // bytes, so more would be taken for something else and fewer would leave it waiting.
    let left = length;
    const wrongLength = (what: string): void => call.abort(new ClientError('ERR_CGIWIRE_BODY_LENGTH',
      `the request body stream ${what} its CONTENT_LENGTH (${length} bytes)`, this.addressText));
    call.pump(call.body, {
      write: (chunk) => {
        if (socket.destroyed) return false;
        if (chunk.length > left) {
          wrongLength('gave more bytes than');
          return false;
        }
        left -= chunk.length;
        return socket.write(chunk);
      },
      // The body's end is not a half-close: some applications take the write side's end for an abort.
      end: () => { if (left > 0) wrongLength(`ended ${left} bytes short of`); },
    });
  }

  /** One request per SCGI connection: never. */
  canPipeline(): boolean {
    return false;
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  cancel(): void {
    this.destroy();
  }

  close(): void {
    if (this.call === null) this.socket.destroy();
  }

  destroy(err?: Error): void {
    if (err !== undefined) this.error ??= err;
    this.socket.destroy();
  }
}
