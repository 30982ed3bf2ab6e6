/**
 * A tiny raw FastCGI/SCGI client for the application-server tests: it plays the web server by hand. It
 * connects, sends whatever bytes a test builds (cgiwire's encoders or hand-made records), and reads the
 * answer with a RecordReader, gathering STDOUT, STDERR and END_REQUEST per request id. Every wait has a
 * timeout, so a server that hangs fails the test instead of stalling it.
 */
import { connect, type Socket } from 'node:net';
import {
  codec as defaultCodec, type Codec, encodeBeginRequest, encodeParams, encodeStreamEnd, type PairPart,
} from '../../lib/index.js';
import { T } from './fcgi.js';

export const ROLE = { RESPONDER: 1, AUTHORIZER: 2, FILTER: 3 } as const;
export const PS = { REQUEST_COMPLETE: 0, CANT_MPX_CONN: 1, OVERLOADED: 2, UNKNOWN_ROLE: 3 } as const;

export type Target = number | string | { port: number; host?: string };

/** A promise that rejects with `what` after `ms` unless it settles first. */
export function withTimeout<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every few ms until it is true; rejects after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(5);
  }
}

function connectSocket(target: Target, ms: number): Promise<Socket> {
  const socket = typeof target === 'number' ? connect({ port: target, host: '127.0.0.1' })
    : typeof target === 'string' ? connect({ path: target })
      : connect({ port: target.port, host: target.host ?? '127.0.0.1' });
  return withTimeout(new Promise<Socket>((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  }), ms, 'connect').catch((err) => { socket.destroy(); throw err; });
}

/** One request's answer, gathered from its records. */
export interface FcgiResponse {
  id: number;
  stdout: Buffer;
  stderr: Buffer;
  /** The empty STDOUT / STDERR records came. */
  stdoutEnded: boolean;
  stderrEnded: boolean;
  /** Record kinds in arrival order: 'out', 'out-end', 'err', 'err-end', 'end'. */
  events: string[];
  appStatus: number;
  protocolStatus: number;
}

/** A management record (id 0) as received. */
export interface ManagementRecord {
  type: number;
  content: Buffer;
}

type Pending = Omit<FcgiResponse, 'stdout' | 'stderr'> & { out: Buffer[]; err: Buffer[] };

export class FcgiClient {
  /** Every byte received, in order (for tests that look at record framing). */
  readonly received: Buffer[] = [];
  receivedBytes = 0;
  readonly management: ManagementRecord[] = [];
  /** Set when the answer broke the record layer (a bad version byte from the server). */
  readerError: string | null = null;
  closed = false;
  private readonly pending = new Map<number, Pending>();
  private readonly done = new Map<number, FcgiResponse[]>();
  private readonly waiters = new Set<() => void>();
  private readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket, codec: Codec) {
    const reader = codec.createRecordReader((type, id, buf, offset, length) => this.onRecord(type, id, Buffer.from(buf.subarray(offset, offset + length))));
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      this.receivedBytes += chunk.length;
      if (this.readerError === null) {
        const err = reader.push(chunk);
        if (err !== null) this.readerError = err.code;
      }
      this.wake();
    });
    socket.on('error', () => { /* 'close' follows */ });
    this.closedPromise = new Promise((resolve) => socket.once('close', () => {
      this.closed = true;
      this.wake();
      resolve();
    }));
  }

  static async connect(target: Target, opts: { timeout?: number; codec?: Codec } = {}): Promise<FcgiClient> {
    return new FcgiClient(await connectSocket(target, opts.timeout ?? 2000), opts.codec ?? defaultCodec);
  }

  /** Writes bytes (buffers or arrays of them, in order). Writing to a socket the server closed is not an error. */
  send(...chunks: (Buffer | Buffer[])[]): this {
    const flat = chunks.flat();
    if (!this.socket.destroyed && flat.length > 0) this.socket.write(flat.length === 1 ? flat[0] : Buffer.concat(flat));
    return this;
  }

  /** The next END_REQUEST of request `id` with what came before it. Rejects on timeout or a close without one. */
  response(id: number, ms = 3000): Promise<FcgiResponse> {
    return this.wait(() => {
      const list = this.done.get(id);
      if (list !== undefined && list.length > 0) return list.shift()!;
      if (this.closed) throw new Error(`connection closed before END_REQUEST for request ${id}`);
      return undefined;
    }, ms, `END_REQUEST for request ${id}`);
  }

  /** The next management record (id 0). */
  nextManagement(ms = 2000): Promise<ManagementRecord> {
    return this.wait(() => {
      if (this.management.length > 0) return this.management.shift()!;
      if (this.closed) throw new Error('connection closed before a management record');
      return undefined;
    }, ms, 'a management record');
  }

  /** Resolves when the server has closed the connection; rejects after `ms`. */
  waitClosed(ms = 2000): Promise<void> {
    return withTimeout(this.closedPromise, ms, 'the server to close the connection');
  }

  /** True when the connection is still open `ms` from now. */
  async staysOpen(ms = 100): Promise<boolean> {
    await sleep(ms);
    return !this.closed;
  }

  /** What request `id` has received so far (no END_REQUEST yet). */
  partial(id: number): { stdout: Buffer; stderr: Buffer; events: string[] } | undefined {
    const p = this.pending.get(id);
    return p && { stdout: Buffer.concat(p.out), stderr: Buffer.concat(p.err), events: [...p.events] };
  }

  /** Every byte received so far, joined. */
  allReceived(): Buffer {
    return Buffer.concat(this.received, this.receivedBytes);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wait<V>(take: () => V | undefined, ms: number, what: string): Promise<V> {
    return withTimeout(new Promise<V>((resolve, reject) => {
      const check = (): boolean => {
        try {
          const v = take();
          if (v === undefined) return false;
          resolve(v);
        } catch (err) {
          reject(err);
        }
        return true;
      };
      if (check()) return;
      const w = (): void => { if (check()) this.waiters.delete(w); };
      this.waiters.add(w);
      setTimeout(() => this.waiters.delete(w), ms + 10).unref();
    }), ms, what);
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private onRecord(type: number, id: number, content: Buffer): void {
    if (id === 0) {
      this.management.push({ type, content });
      return;
    }
    let p = this.pending.get(id);
    if (p === undefined) {
      p = { id, out: [], err: [], stdoutEnded: false, stderrEnded: false, events: [], appStatus: -1, protocolStatus: -1 };
      this.pending.set(id, p);
    }
    if (type === T.STDOUT) {
      if (content.length === 0) { p.stdoutEnded = true; p.events.push('out-end'); } else { p.out.push(content); p.events.push('out'); }
    } else if (type === T.STDERR) {
      if (content.length === 0) { p.stderrEnded = true; p.events.push('err-end'); } else { p.err.push(content); p.events.push('err'); }
    } else if (type === T.END_REQUEST) {
      p.events.push('end');
      p.appStatus = content.length >= 4 ? content.readUInt32BE(0) : -1;
      p.protocolStatus = content.length >= 5 ? content[4] : -1;
      this.pending.delete(id);
      const { out, err, ...rest } = p;
      const r: FcgiResponse = { ...rest, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
      let list = this.done.get(id);
      if (list === undefined) this.done.set(id, (list = []));
      list.push(r);
    } else {
      p.events.push(`type${type}`);
    }
  }
}

// ---- Building requests ---------------------------------------------------------------------------

export type Pairs = Record<string, PairPart> | readonly (readonly [PairPart, PairPart])[];

const pairsOf = (p: Pairs): (readonly [PairPart, PairPart])[] => (Array.isArray(p) ? [...p] : Object.entries(p));

/** Params of a plain GET (plus `extra`). */
export function cgiParams(uri = '/', extra: Record<string, string> = {}, method = 'GET'): Record<string, string> {
  return {
    REQUEST_METHOD: method, REQUEST_URI: uri, SCRIPT_NAME: uri.split('?')[0], QUERY_STRING: uri.split('?')[1] ?? '',
    SERVER_PROTOCOL: 'HTTP/1.1', SERVER_NAME: 'localhost', SERVER_PORT: '80', REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '40000', GATEWAY_INTERFACE: 'CGI/1.1', HTTP_HOST: 'localhost', ...extra,
  };
}

export function begin(id: number, opts: { role?: number; keepConn?: boolean } = {}): Buffer {
  return encodeBeginRequest(id, opts.role ?? ROLE.RESPONDER, opts.keepConn === false ? 0 : 1);
}

/** PARAMS records for `pairs`, closed by the empty PARAMS record unless `close` is false. */
export function params(id: number, pairs: Pairs, close = true): Buffer {
  return encodeParams(id, pairsOf(pairs), close);
}

/** A stream (STDIN, DATA...) cut into records of at most `recordSize` bytes; `close` adds the empty record. */
export function stream(type: number, id: number, payload: Buffer | string, close = true, recordSize = 65535): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += recordSize) {
    const piece = bytes.subarray(at, Math.min(at + recordSize, bytes.length));
    const head = Buffer.alloc(8);
    head[0] = 1;
    head[1] = type;
    head.writeUInt16BE(id, 2);
    head.writeUInt16BE(piece.length, 4);
    parts.push(head, piece);
  }
  if (close) parts.push(encodeStreamEnd(type, id));
  return Buffer.concat(parts);
}

export const stdin = (id: number, payload: Buffer | string, close = true, recordSize?: number): Buffer =>
  stream(T.STDIN, id, payload, close, recordSize);

/** A whole request: BEGIN_REQUEST, PARAMS and (unless `noStdin`) STDIN with `body`. */
export function request(id: number, opts: {
  uri?: string; method?: string; params?: Pairs; body?: Buffer | string; keepConn?: boolean; role?: number;
  noStdin?: boolean;
} = {}): Buffer {
  const body = opts.body ?? '';
  const len = typeof body === 'string' ? Buffer.byteLength(body, 'latin1') : body.length;
  const p = opts.params ?? cgiParams(opts.uri ?? '/', len > 0 ? { CONTENT_LENGTH: String(len) } : {}, opts.method ?? (len > 0 ? 'POST' : 'GET'));
  const parts = [begin(id, opts), params(id, p)];
  if (!opts.noStdin) parts.push(stdin(id, body));
  return Buffer.concat(parts);
}

/** A GET_VALUES record asking for `names`. */
export function getValues(names: string[]): Buffer {
  const body = encodePairs(names.map((n) => [n, ''] as const));
  const head = Buffer.alloc(8);
  head[0] = 1;
  head[1] = T.GET_VALUES;
  head.writeUInt16BE(body.length, 4);
  return Buffer.concat([head, body]);
}

/** Name-value pair bytes, by hand (1-byte lengths below 128, else 4 bytes with the high bit). */
export function encodePairs(pairs: readonly (readonly [string | Buffer, string | Buffer])[]): Buffer {
  const parts: Buffer[] = [];
  const len = (n: number): Buffer => {
    if (n < 128) return Buffer.from([n]);
    const b = Buffer.alloc(4);
    b.writeUInt32BE((n | 0x80000000) >>> 0);
    return b;
  };
  for (const [n, v] of pairs) {
    const nb = typeof n === 'string' ? Buffer.from(n, 'latin1') : n;
    const vb = typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
    parts.push(len(nb.length), len(vb.length), nb, vb);
  }
  return Buffer.concat(parts);
}

// ---- Reading CGI responses -----------------------------------------------------------------------

export interface CgiAnswer {
  status: number;
  /** Header lines in order, as [name, value] (name as sent). */
  headers: [string, string][];
  headerText: string;
  body: Buffer;
}

/** Splits a CGI response (STDOUT bytes or an SCGI answer) into its header block and body. */
export function parseCgi(bytes: Buffer): CgiAnswer {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no end of the CGI header block in ${JSON.stringify(bytes.subarray(0, 200).toString('latin1'))}`);
  const headerText = bytes.subarray(0, end).toString('latin1');
  const headers = headerText.split('\r\n').map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  const status = headers.find(([n]) => n.toLowerCase() === 'status');
  return { status: status ? parseInt(status[1], 10) : 200, headers, headerText, body: bytes.subarray(end + 4) };
}

export function header(a: CgiAnswer, name: string): string | undefined {
  return a.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

// ---- SCGI ------------------------------------------------------------------------------------------

/** Sends `bytes` on a new connection and gathers everything until the server closes it. */
export async function scgiExchange(target: Target, bytes: Buffer | Buffer[], ms = 3000): Promise<Buffer> {
  const socket = await connectSocket(target, ms);
  const got: Buffer[] = [];
  const closed = new Promise<void>((resolve) => {
    socket.on('data', (c: Buffer) => got.push(c));
    socket.on('error', () => { /* 'close' follows */ });
    socket.once('close', () => resolve());
  });
  for (const b of Array.isArray(bytes) ? bytes : [bytes]) socket.write(b);
  try {
    await withTimeout(closed, ms, 'the SCGI server to close the connection');
  } finally {
    socket.destroy();
  }
  return Buffer.concat(got);
}
