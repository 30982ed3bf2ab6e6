/**
 * Server options and their defaults. Every limit a peer could abuse is here, with the error or refusal it
 * leads to when crossed (README, "Limits").
 */
import { isIP, isIPv6 } from 'node:net';
import { DEFAULT_PARAMS_LIMITS, type ParamsLimits } from './codec/index.js';
import type { Role } from './exchange.js';
import { outOfRange } from './errors.js';

export interface ServerOptions {
  /** `'fastcgi'` (default) or `'scgi'`. */
  protocol?: 'fastcgi' | 'scgi';
  /** FastCGI roles served (default `['responder']`); a request for another gets END_REQUEST(UNKNOWN_ROLE). */
  roles?: Role[];
  /** Open connections; more are closed at once (default 1024; advertised as FCGI_MAX_CONNS). */
  maxConnections?: number;
  /**
   * Requests in progress on one FastCGI connection (default 100); one more gets END_REQUEST(CANT_MPX_CONN).
   * 1 turns multiplexing off (FCGI_MPXS_CONNS=0).
   */
  maxRequestsPerConnection?: number;
  /** Requests in progress in all (default 1024; FCGI_MAX_REQS); one more gets END_REQUEST(OVERLOADED). */
  maxRequests?: number;
  /** Limits on one request's params (FastCGI PARAMS; for SCGI maxParamsBytes bounds the header netstring). */
  params?: Partial<ParamsLimits>;
  /**
   * Without bytes for this long (ms; default 120000) a connection with no request in progress is closed, and
   * a request still waiting for its params, body or data (while this side is reading) gets 408 and its slot
   * is freed: a stalled peer must not hold slots for ever.
   */
  idleTimeout?: number;
  /**
   * A request's params must be complete this long after they start (ms; default 60000, as node:http's
   * headersTimeout): FastCGI from BEGIN_REQUEST to the empty PARAMS record, SCGI from the first byte to the
   * end of the header netstring. Beyond it the request gets 408 and its slot is freed.
   */
  paramsTimeout?: number;
  /** Request body bytes accepted (default Infinity); beyond it the request ends with 413. */
  maxBodyBytes?: number;
  /**
   * Unread request body held for one request before its connection stops reading (default 65536). This is
   * the whole backpressure policy: a handler that does not read holds at most this much, and the other
   * requests on its connection go on until it is reached (README, "Backpressure").
   */
  bodyBufferBytes?: number;
  /**
   * Peers allowed to connect over TCP, by address (IPv4 or IPv6, compared in full). Default: the
   * comma-separated FCGI_WEB_SERVER_ADDRS from the environment when set, else anyone.
   */
  webServerAddrs?: string[];
  /**
   * Over TCP, acknowledge request body data at once while a body is arriving (TCP_QUICKACK; default true).
   * Without it a body whose last segment the web server holds under Nagle waits 40 ms for a delayed ACK.
   */
  quickAck?: boolean;
}

export interface ResolvedOptions {
  protocol: 'fastcgi' | 'scgi';
  roles: ReadonlySet<Role>;
  maxConnections: number;
  maxRequestsPerConnection: number;
  maxRequests: number;
  params: ParamsLimits;
  idleTimeout: number;
  paramsTimeout: number;
  maxBodyBytes: number;
  bodyBufferBytes: number;
  webServerAddrs: ReadonlySet<string> | null;
  quickAck: boolean;
}

/**
 * The longest delay a Node timer takes (2^31 - 1 ms, about 24.8 days): a longer one, Infinity included,
 * fires at once (Node sets it to 1 ms). Durations are capped to it, which makes "very long" mean very long.
 */
export const TIMER_MAX = 2 ** 31 - 1;

/** A duration in ms for a timer: capped at TIMER_MAX. */
export function timerMs(ms: number): number {
  return ms > TIMER_MAX ? TIMER_MAX : ms;
}

/** The same where Infinity means "no timer at all" (the code using it arms none): only finite values are capped. */
export function finiteTimerMs(ms: number): number {
  return Number.isFinite(ms) ? timerMs(ms) : ms;
}

/**
 * A buffer size in bytes (bodyBufferBytes, on the server and the client): a stream's high-water mark, so a
 * finite count; a fraction is rounded down. Infinity would let an unread body grow without bound.
 */
export function bufferBytes(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v >= 1) || !Number.isFinite(v)) {
    throw outOfRange(`options.${name} must be a finite number of bytes >= 1; got ${String(v)}`);
  }
  return Math.floor(v);
}

/**
 * A number option, on the server and the client: `fallback` when undefined, else a number at least `least`
 * (above it when `above`), Infinity included; anything else (a string, NaN, too small) throws a RangeError
 * with code ERR_OUT_OF_RANGE rather than quietly meaning something.
 */
export function numberOption(name: string, value: number | undefined, fallback: number, least: number, above = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(above ? value > least : value >= least)) {
    throw outOfRange(`${name} must be a number ${above ? '>' : '>='} ${least}; got ${String(value)}`);
  }
  return value;
}

/** A count or duration of the server's: at least 1. */
const positive = (name: string, v: number | undefined, fallback: number): number => numberOption(`options.${name}`, v, fallback, 1);

/** A count or duration of the client's: above 0, or at least 0 (often: none) with `allowZero`. */
export function clientOption(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  return numberOption(name, value, fallback, 0, !allowZero);
}

/**
 * One spelling per address, so that addresses compare as addresses: IPv6 in its canonical form (as the URL
 * parser writes it: 0:0:0:0:0:0:0:1 is ::1), and an IPv4-mapped IPv6 address (::ffff:1.2.3.4) as IPv4.
 */
export function normalizeAddress(address: string): string {
  let a = address.trim().toLowerCase();
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  if (isIPv6(a)) {
    try {
      a = new URL(`http://[${a}]/`).hostname.slice(1, -1);
    } catch { /* keep it as given */ }
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
    if (mapped) {
      const hi = parseInt(mapped[1], 16), lo = parseInt(mapped[2], 16);
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
  }
  return a;
}

/**
 * The allowed peers as normalised addresses; empty entries are skipped. An entry that is not an address (a
 * name, a port, a network with /bits: none is ever a peer's address) is refused in the option; in
 * FCGI_WEB_SERVER_ADDRS it is left out with a warning, so a list of only such entries allows nobody.
 */
function webServerAddrs(entries: readonly string[], from: 'option' | 'env'): ReadonlySet<string> {
  const out = new Set<string>();
  const bad: string[] = [];
  for (const entry of entries) {
    if (typeof entry !== 'string') { bad.push(String(entry)); continue; }
    const a = normalizeAddress(entry);
    if (a === '') continue;
    if (isIP(a) === 0) bad.push(entry.trim());
    else out.add(a);
  }
  if (bad.length > 0) {
    if (from === 'option') {
      throw Object.assign(new RangeError(`options.webServerAddrs takes IPv4 or IPv6 addresses; not ${bad.map((b) => JSON.stringify(b)).join(', ')}`),
        { code: 'ERR_INVALID_ARG_VALUE' });
    }
    process.emitWarning(`FCGI_WEB_SERVER_ADDRS: ${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} not an IPv4 or IPv6 address and ${bad.length === 1 ? 'is' : 'are'} ignored`,
      { code: 'CGIWIRE_WEB_SERVER_ADDRS' });
  }
  return out;
}

export function resolveOptions(opts: ServerOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  const protocol = opts.protocol ?? 'fastcgi';
  if (protocol !== 'fastcgi' && protocol !== 'scgi') throw new TypeError(`options.protocol must be 'fastcgi' or 'scgi'`);
  const roles = new Set<Role>(opts.roles ?? ['responder']);
  for (const r of roles) {
    if (r !== 'responder' && r !== 'authorizer' && r !== 'filter') throw new TypeError(`unknown role ${String(r)}`);
  }
  const addrs = opts.webServerAddrs !== undefined ? webServerAddrs(opts.webServerAddrs, 'option')
    : env.FCGI_WEB_SERVER_ADDRS ? webServerAddrs(env.FCGI_WEB_SERVER_ADDRS.split(','), 'env') : null;
  return {
    protocol,
    roles,
    maxConnections: positive('maxConnections', opts.maxConnections, 1024),
    maxRequestsPerConnection: positive('maxRequestsPerConnection', opts.maxRequestsPerConnection, 100),
    maxRequests: positive('maxRequests', opts.maxRequests, 1024),
    params: { ...DEFAULT_PARAMS_LIMITS, ...opts.params },
    idleTimeout: timerMs(positive('idleTimeout', opts.idleTimeout, 120_000)),
    paramsTimeout: timerMs(positive('paramsTimeout', opts.paramsTimeout, 60_000)),
    maxBodyBytes: opts.maxBodyBytes === undefined ? Infinity : positive('maxBodyBytes', opts.maxBodyBytes + 1, 1) - 1,
    bodyBufferBytes: bufferBytes('bodyBufferBytes', opts.bodyBufferBytes, 65536),
    webServerAddrs: addrs,
    quickAck: opts.quickAck ?? true,
  };
}
