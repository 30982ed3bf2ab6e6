/**
 * createServer: a node:http-shaped server that speaks FastCGI or SCGI to a web server.
 */
import { EventEmitter } from 'node:events';
import { chmodSync, fstatSync, lstatSync, unlinkSync } from 'node:fs';
import cluster from 'node:cluster';
import { connect, Server as NetServer, Socket as NetSocket, type Socket } from 'node:net';
import { codec as defaultCodec, type Codec } from './codec/index.js';
import { socketKind } from './codec/native.js';
import type { Exchange } from './exchange.js';
import { FastCgiServerConnection, type ServerState } from './fastcgi/server-connection.js';
import { bind, type CgiRequest, type CgiResponse } from './http/index.js';
import { answerWithError } from './http/error-answer.js';
import { normalizeAddress, resolveOptions, timerMs, type ResolvedOptions, type ServerOptions } from './options.js';
import { ScgiServerConnection } from './scgi/server-connection.js';

export type RequestListener = (req: CgiRequest, res: CgiResponse) => unknown;

/** Where to listen: as net.Server's listen, plus `mode` for a unix socket's permissions. */
export interface ListenOptions {
  port?: number;
  host?: string;
  path?: string;
  /** Permissions of a unix socket file, e.g. 0o660. */
  mode?: number;
  fd?: number;
  handle?: unknown;
  backlog?: number;
}

export interface CloseOptions {
  /** After this many ms, requests still in progress are aborted (default: the server's closeTimeout). */
  timeout?: number;
}

type Connection = FastCgiServerConnection | ScgiServerConnection;

export class Server extends EventEmitter {
  readonly options: ResolvedOptions;
  /** Milliseconds close() waits for requests in progress before aborting them (default 30000). */
  closeTimeout = 30_000;
  private readonly net: NetServer;
  private readonly state: ServerState;
  private readonly connections = new Set<Connection>();
  private closing = false;
  private socketMode: { path: string; mode: number } | null = null;
  /** A listen on a unix path waits for the stale-socket check; close() before it ends cancels it. */
  private pendingListen: number | null = null;
  private listens = 0;

  constructor(options?: ServerOptions & { codec?: Codec }, listener?: RequestListener) {
    super();
    this.options = resolveOptions(options);
    if (listener) this.on('request', listener);
    const codec = options?.codec ?? defaultCodec;
    this.state = {
      options: this.options,
      codec,
      active: 0,
      onExchange: (ex) => this.onExchange(ex),
      onError: (err) => this.emit('protocolError', err),
    };
    // Not allowHalfOpen: the web server's end of its side is the end of the connection, and the requests on it
    // are aborted. A FIN cannot tell a half-close from a close, and closing the connection is how nginx and
    // Apache abort a request (a client gone); a peer that half-closes and waits for the answer gets none.
    this.net = new NetServer({ pauseOnConnect: false, noDelay: true });
    this.net.maxConnections = this.options.maxConnections;
    this.net.on('connection', (socket) => this.onConnection(socket));
    this.net.on('listening', () => {
      // A unix socket's mode is set before anyone hears it is listening; one that cannot be set is an error
      // (the server then closes rather than serve with other permissions than asked for).
      const mode = this.socketMode;
      this.socketMode = null;
      if (mode !== null) {
        try {
          chmodSync(mode.path, mode.mode);
        } catch (err) {
          this.net.close();
          this.emit('error', err);
          return;
        }
      }
      this.emit('listening');
    });
    this.net.on('error', (err) => this.emit('error', err));
  }

  /**
   * Starts listening: `listen(port[, host][, cb])`, `listen(path[, cb])`, `listen(options[, cb])`, or
   * `listen([cb])` with no address, which serves on the listening socket the web server passed as fd 0
   * (spawn mode: lighttpd bin-path, Apache mod_fcgid, h2o fastcgi.spawn, spawn-fcgi).
   */
  listen(...args: unknown[]): this {
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    if (cb) this.once('listening', cb);
    let target: ListenOptions;
    if (args.length === 0 || args[0] === undefined) {
      if (!isListeningSocketFd(0)) {
        process.nextTick(() => this.emit('error', Object.assign(new Error(
          'listen() without an address needs a listening socket on fd 0 (spawn mode)'), { code: 'ERR_CGIWIRE_NO_SPAWN_SOCKET' })));
        return this;
      }
      target = { fd: 0 };
    } else if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
      target = { port: Number(args[0]), host: typeof args[1] === 'string' ? args[1] : undefined };
    } else if (typeof args[0] === 'string') {
      target = { path: args[0] };
    } else if (args[0] instanceof NetServer || args[0] instanceof NetSocket) {
      target = { handle: args[0] }; // net.Server#listen(handle): a server or socket whose handle is served on
    } else {
      target = args[0] as ListenOptions;
      if (target === null || typeof target !== 'object' || (target.port === undefined && target.path === undefined
        && target.fd === undefined && target.handle === undefined)) {
        throw Object.assign(new TypeError('listen() needs a port, a path, an fd or a handle (as net.Server#listen)'),
          { code: 'ERR_INVALID_ARG_VALUE' });
      }
    }
    this.socketMode = null;
    if (target.path !== undefined) this.listenPath(target);
    else if (target.fd !== undefined) this.net.listen({ fd: target.fd });
    else if (target.handle !== undefined) this.net.listen(target.handle as never);
    else this.net.listen({ port: target.port ?? 0, host: target.host ?? '127.0.0.1', backlog: target.backlog });
    return this;
  }

  /**
   * A unix socket: a stale socket file (nobody listening) is replaced; a live one is an error. In a cluster
   * worker the primary owns the socket (and has made the path ready), so the path goes to net as it is.
   */
  private listenPath(target: ListenOptions): void {
    const path = target.path!;
    const go = (): void => {
      // An abstract socket (a name starting with NUL) has no file, so no mode.
      if (target.mode !== undefined && !path.startsWith('\0')) this.socketMode = { path, mode: target.mode };
      try {
        this.net.listen({ path, backlog: target.backlog });
      } catch (err) {
        // Listening already (another listen() while the path was checked): an error, as net.Server's throw.
        this.socketMode = null;
        this.emit('error', err);
      }
    };
    if (cluster.isWorker) return go();
    const id = ++this.listens;
    this.pendingListen = id;
    const settled = (): boolean => {
      if (this.pendingListen !== id) return false; // close() came first
      this.pendingListen = null;
      return true;
    };
    prepareSocketPath(path).then(() => { if (settled()) go(); }, (err: Error) => { if (settled()) this.emit('error', err); });
  }

  address(): ReturnType<NetServer['address']> {
    return this.net.address();
  }

  get listening(): boolean {
    return this.net.listening;
  }

  /** Requests in progress. */
  get activeRequests(): number {
    return this.state.active;
  }

  /**
   * Stops accepting connections, lets requests in progress finish, then emits 'close'. Requests still in
   * progress after `timeout` ms are aborted.
   */
  close(optionsOrCb?: CloseOptions | ((err?: Error) => void), cb?: (err?: Error) => void): this {
    const opts = typeof optionsOrCb === 'object' ? optionsOrCb : {};
    const done = typeof optionsOrCb === 'function' ? optionsOrCb : cb;
    if (this.closing) {
      if (done) this.once('close', () => done());
      return this;
    }
    this.closing = true;
    let error: Error | undefined;
    if (done) this.once('close', () => done(error));
    let timer: NodeJS.Timeout | null = null;
    const closed = (err?: Error): void => {
      error = err;
      if (timer !== null) clearTimeout(timer);
      // Once closed the server may listen again, as net.Server can.
      this.closing = false;
      // After what the aborted requests emit (their 'error' and 'close' come in process.nextTick).
      setImmediate(() => this.emit('close'));
    };
    if (this.pendingListen !== null) {
      // A listen still checking its socket path is called off: the server never listens, and no connection
      // of this listen is there to wait for.
      this.pendingListen = null;
      closed();
      return this;
    }
    // Not listening: ERR_SERVER_NOT_RUNNING to the callback, as net.Server gives.
    this.net.close((err) => closed(err ?? undefined));
    for (const c of this.connections) c.drainAndClose();
    timer = setTimeout(() => {
      const err = Object.assign(new Error('the server closed before the request finished'), { code: 'ERR_SERVER_CLOSED' });
      // Aborted before the sockets close, so every request is aborted by the time 'close' is emitted.
      for (const c of this.connections) c.destroy(err);
    }, timerMs(opts.timeout ?? this.closeTimeout));
    timer.unref();
    return this;
  }

  private onConnection(socket: Socket): void {
    const allowed = this.options.webServerAddrs;
    // FCGI_WEB_SERVER_ADDRS: a TCP peer not on the list is closed at once (full-address comparison).
    if (allowed !== null && socket.remoteAddress !== undefined && !allowed.has(normalizeAddress(socket.remoteAddress))) {
      socket.destroy();
      return;
    }
    if (this.closing) { socket.destroy(); return; }
    const conn = this.options.protocol === 'scgi' ? new ScgiServerConnection(socket, this.state)
      : new FastCgiServerConnection(socket, this.state);
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
    this.emit('connection', socket);
  }

  private onExchange(exchange: Exchange): void {
    const { req, res } = bind(exchange, this.options.bodyBufferBytes);
    const fail = (err: unknown): void => {
      // A handler that throws or rejects gives a 500 to its request; the server goes on.
      if (this.listenerCount('handlerError') > 0) this.emit('handlerError', err, req, res);
      else console.error('cgiwire: request handler failed:', err);
      if (res.headersSent) return void res.destroy();
      if (res.writableEnded) return;
      // A fresh 500: nothing of the failed response (its status text, headers such as Content-Length or a
      // Trailer that made node's write throw) goes with it.
      answerWithError(res, 500, 'Internal Server Error', res.getHeaderNames());
    };
    try {
      const listeners = this.listeners('request');
      for (const l of listeners) {
        const r = (l as RequestListener).call(this, req, res);
        if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).then(undefined, fail);
      }
    } catch (err) {
      fail(err);
    }
  }
}

/**
 * True when `fd` is a listening socket (spawn mode); false for a pipe, file, tty or connected socket. The
 * native addon asks the kernel (getpeername fails with ENOTCONN on a listening socket, ENOTSOCK on a pipe);
 * without it, any socket on the fd is taken for a listening one.
 */
export function isListeningSocketFd(fd: number): boolean {
  try {
    if (!fstatSync(fd).isSocket()) return false;
  } catch {
    return false;
  }
  const kind = socketKind(fd);
  return kind === undefined ? true : kind === 'listening';
}

/**
 * Makes a unix socket path ready to listen on: a stale socket file (nobody accepts on it) is removed; a live
 * one is an EADDRINUSE error. Anything else at the path is left for net to refuse.
 */
export function prepareSocketPath(path: string): Promise<void> {
  let isSocket = false;
  try { isSocket = lstatSync(path).isSocket(); } catch { return Promise.resolve(); }
  if (!isSocket) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      reject(Object.assign(new Error(`${path} is in use by a live server`), { code: 'EADDRINUSE' }));
    });
    probe.once('error', () => {
      try { unlinkSync(path); } catch { /* gone already */ }
      resolve();
    });
  });
}
