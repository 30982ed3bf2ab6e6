/**
 * CGI params for an HTTP request (RFC 3875, 4.1), built so that request data only ever chooses values and
 * HTTP_* names: a header never becomes CONTENT_LENGTH twice, SCRIPT_FILENAME, PHP_VALUE or any other param.
 */
import { memoize } from '../memo.js';

export interface HttpRequestInfo {
  method: string;
  /** The request target: path and query (`/a/b?x=1`). */
  url: string;
  /** Names and values alternating, as node's `req.rawHeaders` (or `[name, value]` pairs). */
  rawHeaders: readonly string[] | readonly (readonly [string, string])[];
  remoteAddress?: string;
  remotePort?: number;
  serverAddress?: string;
  serverPort?: number;
  serverName?: string;
  /** `HTTP/1.1` unless given. */
  protocol?: string;
  https?: boolean;
  /** The body's length when known (CONTENT_LENGTH); otherwise the Content-Length header's, if any. */
  contentLength?: number | null;
}

/** Header names passed on: letters, digits and '-' (an '_' would let "X_A" pose as "X-A", as nginx also refuses). */
const HEADER_NAME = /^[A-Za-z0-9-]+$/;

/** The headers as a flat [name, value, ...] list: node's rawHeaders as they are, pairs flattened. */
function flatOf(raw: HttpRequestInfo['rawHeaders']): readonly string[] {
  if (raw.length === 0 || !Array.isArray(raw[0])) return raw as readonly string[];
  const out: string[] = [];
  for (const [n, v] of raw as readonly (readonly [string, string])[]) out.push(n, v);
  return out;
}

/** What a header name becomes: its HTTP_* param name, or null when it is not passed on. */
interface HeaderKey {
  key: string | null;
  /** How a repeat joins the earlier value: Cookie with "; ", the others with ", ". */
  joiner: string;
}

/** A header name's param key and joiner, remembered: the same few names come with every request. */
const headerKeyOf = memoize((name: string): HeaderKey => {
  const lower = name.toLowerCase();
  const dropped = !HEADER_NAME.test(name) || lower === 'proxy' || lower === 'content-type' || lower === 'content-length';
  return { key: dropped ? null : 'HTTP_' + name.toUpperCase().replace(/-/g, '_'), joiner: lower === 'cookie' ? '; ' : ', ' };
});

/**
 * The request's headers as HTTP_* params, repeated headers joined (Cookie with "; ", others with ", ").
 * Dropped: `Proxy` (httpoxy, CVE-2016-5385), names with characters other than letters, digits and '-',
 * and Content-Type/Content-Length (they become CONTENT_TYPE/CONTENT_LENGTH, see {@link requestParams}).
 */
export function headerParams(rawHeaders: HttpRequestInfo['rawHeaders']): Map<string, string> {
  const out = new Map<string, string>();
  const flat = flatOf(rawHeaders);
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const { key, joiner } = headerKeyOf(flat[i]);
    if (key === null) continue;
    const had = out.get(key);
    out.set(key, had === undefined ? flat[i + 1] : had + joiner + flat[i + 1]);
  }
  return out;
}

function headerValue(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const n = flat[i];
    if (n.length === name.length && n.toLowerCase() === name) return flat[i + 1];
  }
  return undefined;
}

/**
 * The standard CGI params of an HTTP request (no script mapping: SCRIPT_NAME etc. are the caller's), in the
 * order a web server sends them. Values come from the request; names never do, except HTTP_*.
 */
export function requestParams(info: HttpRequestInfo): [string, string][] {
  const q = info.url.indexOf('?');
  const params: [string, string][] = [
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', 'cgiwire'],
    ['REQUEST_METHOD', info.method.toUpperCase()],
    ['REQUEST_URI', info.url],
    ['QUERY_STRING', q === -1 ? '' : info.url.slice(q + 1)],
    ['SERVER_PROTOCOL', info.protocol ?? 'HTTP/1.1'],
    ['REMOTE_ADDR', info.remoteAddress ?? '127.0.0.1'],
    ['REMOTE_PORT', String(info.remotePort ?? 0)],
    ['SERVER_ADDR', info.serverAddress ?? '127.0.0.1'],
    ['SERVER_PORT', String(info.serverPort ?? (info.https ? 443 : 80))],
    ['SERVER_NAME', info.serverName ?? 'localhost'],
    ['REQUEST_SCHEME', info.https ? 'https' : 'http'],
  ];
  if (info.https) params.push(['HTTPS', 'on']);
  const flat = flatOf(info.rawHeaders);
  const type = headerValue(flat, 'content-type');
  if (type !== undefined) params.push(['CONTENT_TYPE', type]);
  const length = info.contentLength ?? headerValue(flat, 'content-length');
  if (length !== undefined && length !== null) params.push(['CONTENT_LENGTH', String(length)]);
  for (const pair of headerParams(flat)) params.push(pair);
  return params;
}
