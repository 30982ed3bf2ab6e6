/**
 * Where a client connects: `host:port`, `[v6]:port`, a bare port (loopback), a unix socket path, or a list
 * of them (comma-separated or an array) to balance over.
 */
import { isIP } from 'node:net';

export type Address = { readonly host: string; readonly port: number; readonly path?: undefined }
  | { readonly path: string; readonly host?: undefined; readonly port?: undefined };

export type AddressInput = string | number | { host?: string; port: number } | { path: string };

function invalid(input: unknown, why: string): TypeError {
  return Object.assign(new TypeError(`invalid address ${JSON.stringify(input)}: ${why}`), { code: 'ERR_CGIWIRE_INVALID_ADDRESS' });
}

function portOf(text: string, input: unknown): number {
  if (!/^\d{1,5}$/.test(text)) throw invalid(input, 'the port is not a number');
  const port = Number(text);
  if (port < 1 || port > 65535) throw invalid(input, 'the port is not from 1 to 65535');
  return port;
}

/** One address. A string with a `/` (or starting `unix:`) is a socket path; `host:port` otherwise. */
export function parseAddress(input: AddressInput): Address {
  if (typeof input === 'number') return { host: '127.0.0.1', port: portOf(String(input), input) };
  if (typeof input === 'object' && input !== null) {
    if ('path' in input && typeof input.path === 'string' && input.path !== '') return { path: input.path };
    if ('port' in input) return { host: input.host || '127.0.0.1', port: portOf(String(input.port), input) };
    throw invalid(input, 'an object address needs a path or a port');
  }
  if (typeof input !== 'string') throw invalid(input, 'not a string, number or object');
  const text = input.trim();
  if (text.startsWith('unix:')) {
    const path = text.slice(5);
    if (path === '') throw invalid(input, 'empty socket path');
    return { path };
  }
  if (text.includes('/')) return { path: text };
  if (/^\d+$/.test(text)) return { host: '127.0.0.1', port: portOf(text, input) };
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracketed) {
    if (isIP(bracketed[1]) !== 6) throw invalid(input, 'not an IPv6 address in brackets');
    return { host: bracketed[1], port: portOf(bracketed[2], input) };
  }
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw invalid(input, 'expected host:port, a port, or a socket path');
  const host = text.slice(0, colon);
  if (host.includes(':')) throw invalid(input, 'an IPv6 address needs brackets: [addr]:port');
  return { host, port: portOf(text.slice(colon + 1), input) };
}

/** A list of addresses: an array, or one string of comma-separated addresses. */
export function parseAddresses(input: AddressInput | readonly AddressInput[]): Address[] {
  const items = Array.isArray(input) ? input
    : typeof input === 'string' ? input.split(',').map((s) => s.trim()).filter((s) => s !== '') : [input];
  if (items.length === 0) throw invalid(input, 'no address given');
  return items.map((item) => parseAddress(item as AddressInput));
}

/** `host:port`, `[v6]:port` or the socket path, for messages and keys. */
export function formatAddress(a: Address): string {
  if (a.path !== undefined) return a.path;
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
