/**
 * The FastCGI and SCGI clients: Node as the web server's side of the protocol, talking to PHP-FPM or any
 * FastCGI/SCGI application. Both have the same shape; FastCGI adds GET_VALUES and multiplexing.
 */
import { EventEmitter } from 'node:events';
import { type Codec, codec as defaultCodec } from '../codec/index.js';
import { type Address, type AddressInput, parseAddress, parseAddresses, formatAddress } from './address.js';
import { ClientCall, ClientError, type RequestOptions } from './call.js';
import { Pool, connectCode, type Connector, type PoolHooks } from './pool.js';
import type { ClientResponse } from './response.js';
import { FastCgiClientConnection, MANAGEMENT_NAMES, type PeerInfo, peerInfoFrom } from '../fastcgi/client-connection.js';
import { ScgiClientConnection } from '../scgi/client-connection.js';
import { bufferBytes, clientOption, finiteTimerMs, timerMs } from '../options.js';

export interface ClientOptions {
  /** `host:port`, `[v6]:port`, a port (loopback), a unix socket path, or several (an array or comma-separated). */
  address: AddressInput | readonly AddressInput[];
  /**
   * Open connections per address at most (default 4). For PHP-FPM keep it at most `pm.max_children`: a kept
   * connection holds a PHP worker while idle, so a connection beyond that waits for a worker that never frees.
   */
  maxConnectionsPerAddress?: number;
  /** Calls waiting for a connection at most; one more fails with ERR_CGIWIRE_QUEUE_FULL (default 1024). */
  maxQueue?: number;
  /**
   * Longest wait in that queue for a connection (ms; default 60000; 0 for none): beyond it the call fails with
   * ERR_CGIWIRE_QUEUE_TIMEOUT (every connection held, e.g. by responses nobody reads).
   */
  queueTimeout?: number;
  /** An unused connection is closed after this long (ms; default 30000). */
  idleTimeout?: number;
  /** Longest wait for a connection to open (ms; default 5000). */
  connectTimeout?: number;
  /**
   * Longest wait between two steps of a request (ms; default 60000; 0 for none): the peer's next bytes, or the
   * next piece of a streamed body sent.
   */
  timeout?: number;
  /** A response header block larger than this fails the request (default 65536). */
  maxHeaderBytes?: number;
  /** Unread STDERR kept per response; beyond it STDERR still reaches the 'stderr' event only (default 1 MiB). */
  maxStderrBytes?: number;
  /** Unread body held per response before the connection stops reading (default 65536). */
  bodyBufferBytes?: number;
  /** After a failed connect, an address is passed over for this long while another is up (ms; default 1000). */
  retryDelay?: number;
  /** The codec (default: the process's, native or TypeScript). */
  codec?: Codec;
}

export interface FastCgiClientOptions extends ClientOptions {
  /**
   * 'auto' (default): ask each address with GET_VALUES and multiplex when it says FCGI_MPXS_CONNS=1;
   * true: multiplex without asking; false: one request per connection at a time.
   */
  multiplex?: 'auto' | boolean;
  /** Requests at once on one multiplexed connection (default 100; also bounded by the peer's FCGI_MAX_REQS). */
  maxRequestsPerConnection?: number;
  /** Longest wait for the answer to GET_VALUES (ms; default 1000). */
  probeTimeout?: number;
  /**
   * With a peer that does not multiplex, once every connection allowed is busy: requests one kept connection
   * may carry at once, the later ones sent ahead of the first one's answer (default 1: none). The peer must
   * read the next request after answering one, as PHP-FPM does; only requests whose body is bytes go ahead
   * (they can be sent again if the connection closes first). The PHP gateway uses 2.
   */
  pipeline?: number;
}

/** Where a 'stderr' event came from. */
export interface StderrSource {
  address: string;
  params: ClientCall['params'];
}

/** What destroy() fails the requests under way with, unless given another error. */
const destroyedError = (): ClientError => new ClientError('ERR_CGIWIRE_CLIENT_CLOSED', 'the client was destroyed');

/**
 * What both clients share: options, the pool, requests. Events: 'stderr' (chunk, source) for every piece of
 * STDERR any response carries (FastCGI).
 */
abstract class BaseClient extends EventEmitter {
  protected readonly pool: Pool;
  protected readonly addresses: Address[];
  protected readonly limits;
  protected readonly connectTimeout: number;
  protected readonly idleTimeout: number;
  protected readonly codec: Codec;
  private readonly stderrHook = (chunk: Buffer, call: ClientCall): void => {
    if (this.listenerCount('stderr') > 0) this.emit('stderr', chunk, { address: call.address, params: call.params });
  };

  constructor(options: ClientOptions) {
    super();
    if (options === null || typeof options !== 'object') throw new TypeError('client options are required: { address }');
    const addresses = parseAddresses(options.address as AddressInput);
    this.addresses = addresses;
    this.codec = options.codec ?? defaultCodec;
    this.connectTimeout = timerMs(clientOption('connectTimeout', options.connectTimeout, 5000));
    this.idleTimeout = timerMs(clientOption('idleTimeout', options.idleTimeout, 30000));
    this.limits = {
      maxHeaderBytes: clientOption('maxHeaderBytes', options.maxHeaderBytes, 65536),
      maxStderrBytes: clientOption('maxStderrBytes', options.maxStderrBytes, 1 << 20, true),
      bodyBufferBytes: bufferBytes('bodyBufferBytes', options.bodyBufferBytes, 65536),
      timeout: finiteTimerMs(clientOption('timeout', options.timeout, 60000, true)),
    };
    this.pool = new Pool(addresses, (address, hooks) => this.connectTo(address, hooks), {
      maxConnectionsPerAddress: clientOption('maxConnectionsPerAddress', options.maxConnectionsPerAddress, 4),
      maxQueue: clientOption('maxQueue', options.maxQueue, 1024, true),
      queueTimeout: finiteTimerMs(clientOption('queueTimeout', options.queueTimeout, 60000, true)),
      retryDelay: timerMs(clientOption('retryDelay', options.retryDelay, 1000, true)),
      // A call refused with CANT_MPX_CONN while the pool learns a peer's real limit goes back to the queue;
      // a lost one goes again at most once (replays, call.ts). This bounds both.
      maxRetries: 16,
    });
  }

  protected abstract connectTo(...args: Parameters<Connector>): ReturnType<Connector>;

  /**
   * Sends a request. Resolves once the response's header block has arrived; the body and STDERR follow as
   * streams. Rejects with a ClientError (connection, timeout, abort, queue, refusal) or a BadResponseError.
   */
  request(options: RequestOptions): Promise<ClientResponse> {
    try {
      return this.startCall(options).promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * @internal The call behind a request: for the PHP gateway, which cancels it with `call.abort(err)` when its
   * HTTP client goes away, without an AbortController per request. Throws on bad options.
   */
  startCall(options: RequestOptions): ClientCall {
    const call = new ClientCall(options, this.limits);
    call.onStderr = this.stderrHook;
    this.pool.submit(call);
    return call;
  }

  /** Open connections and waiting calls, for monitoring. */
  get stats(): { connections: number; queued: number } {
    return { connections: this.pool.connectionCount, queued: this.pool.queued };
  }

  /** Refuses new requests, lets those under way finish, then closes every connection. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Fails every request under way or waiting, and closes every connection now. */
  destroy(err: Error = destroyedError()): void {
    this.pool.destroy(err);
  }
}

/** A FastCGI client (the web server's side): pooled, multiplexing when the peer allows it. */
export class Client extends BaseClient {
  private readonly multiplex: 'auto' | boolean;
  private readonly maxRequestsPerConnection: number;
  private readonly probeTimeout: number;
  private readonly pipeline: number;
  /** What each address said of itself (GET_VALUES), by address text. */
  private readonly peers = new Map<string, PeerInfo>();
  /** How to end each getValues() under way (its connection is outside the pool): destroy() ends them too. */
  private readonly valueQueries = new Set<(err: Error) => void>();

  constructor(options: FastCgiClientOptions) {
    super(options);
    const m = options.multiplex ?? 'auto';
    if (m !== 'auto' && m !== true && m !== false) throw new TypeError(`multiplex must be 'auto', true or false; got ${String(m)}`);
    this.multiplex = m;
    this.maxRequestsPerConnection = Math.min(65535, Math.floor(clientOption('maxRequestsPerConnection', options.maxRequestsPerConnection, 100)));
    this.probeTimeout = timerMs(clientOption('probeTimeout', options.probeTimeout, 1000));
    this.pipeline = Math.min(16, Math.floor(clientOption('pipeline', options.pipeline, 1)));
  }

  protected connectTo(...[address, hooks]: Parameters<Connector>): FastCgiClientConnection {
    const key = formatAddress(address);
    const peer = this.multiplex === 'auto' ? this.peers.get(key) ?? null
      : { multiplexes: this.multiplex, maxRequests: null, maxConnections: null };
    return new FastCgiClientConnection(address, this.forget(key, hooks), {
      codec: this.codec,
      connectTimeout: this.connectTimeout,
      idleTimeout: this.idleTimeout,
      maxRequestsPerConnection: this.maxRequestsPerConnection,
      peer,
      probeTimeout: this.probeTimeout,
      onPeerInfo: (info) => this.peers.set(key, info),
      pipeline: this.pipeline,
    });
  }

  /** A connection that fails to open forgets what its address said: the peer may come back as another program. */
  private forget(key: string, hooks: PoolHooks): PoolHooks {
    return {
      ...hooks,
      closed: (conn, err) => {
        if (err !== null && !conn.usable && conn.active === 0) this.peers.delete(key);
        hooks.closed(conn, err);
        // The last connection gone: the next one asks again (the peer may have restarted with other limits).
        // Not after a hang-up on GET_VALUES (err null): that taught what the next connection must not ask.
        if (err !== null && this.pool.connectionsTo(key) === 0) this.peers.delete(key);
      },
    };
  }

  /** Also ends the getValues() calls under way, with the same error. */
  override destroy(err: Error = destroyedError()): void {
    for (const end of this.valueQueries) end(err);
    super.destroy(err);
  }

  /**
   * Asks an application what it allows (GET_VALUES, FastCGI 1.0, 4.1) on a connection of its own.
   * Default names: FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS; default address: the first. Bad options
   * reject (async), as request()'s do; so does a client closed or destroyed (ERR_CGIWIRE_CLIENT_CLOSED).
   */
  async getValues(names: readonly string[] = MANAGEMENT_NAMES, options: { address?: AddressInput; timeout?: number } = {}):
    Promise<Record<string, string>> {
    if (!this.pool.accepting) throw new ClientError('ERR_CGIWIRE_CLIENT_CLOSED', 'the client is closed');
    const address = options.address !== undefined ? parseAddress(options.address) : this.addresses[0];
    // As probeTimeout: a positive number, capped to what a timer holds (Infinity is a very long wait, not none).
    const timeout = timerMs(clientOption('timeout', options.timeout, Math.max(this.probeTimeout, 5000)));
    return new Promise((resolve, reject) => {
      let connected = false;
      /** Settles the query, once: with the answer, or a failure (its connection's, or destroy()'s); closes the connection. */
      const finish = (err: Error | null, values?: Record<string, string>): void => {
        if (!this.valueQueries.delete(finish)) return;
        conn.destroy(err ?? undefined);
        if (err !== null) {
          reject(err);
          return;
        }
        if (names === MANAGEMENT_NAMES) this.peers.set(formatAddress(address), peerInfoFrom(values!));
        resolve(values!);
      };
      this.valueQueries.add(finish);
      const conn: FastCgiClientConnection = new FastCgiClientConnection(address, {
        ready: () => {
          connected = true;
          conn.getValues(names, timeout).then((values) => finish(null, values), finish);
        },
        free: () => {},
        requeue: () => {},
        closed: (_c, err) => {
          const text = formatAddress(address);
          finish(!connected && err !== null
            ? new ClientError(connectCode(err), `cannot connect to ${text}: ${err.message}`, text, { cause: err })
            : err ?? new ClientError('ERR_CGIWIRE_CONNECTION_CLOSED', `${text} closed the connection`, text));
        },
      }, {
        codec: this.codec, connectTimeout: this.connectTimeout, idleTimeout: this.idleTimeout,
        maxRequestsPerConnection: 1, peer: { multiplexes: false, maxRequests: null, maxConnections: null },
        probeTimeout: timeout, onPeerInfo: () => {}, pipeline: 1,
      });
    });
  }
}

/** An SCGI client: the same shape, one request per connection. */
export class ScgiClient extends BaseClient {
  protected connectTo(...[address, hooks]: Parameters<Connector>): ScgiClientConnection {
    return new ScgiClientConnection(address, hooks, { connectTimeout: this.connectTimeout });
  }
}

export { ClientError, type RequestOptions, type ClientRole, type ParamsInput, type BodyInput } from './call.js';
export { ClientResponse, BadResponseError, parseResponseHead, type ResponseHead } from './response.js';
export { parseAddress, parseAddresses, formatAddress, type Address, type AddressInput } from './address.js';
export type { PeerInfo } from '../fastcgi/client-connection.js';
