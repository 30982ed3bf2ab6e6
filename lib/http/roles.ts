/**
 * Typed answers for the FastCGI AUTHORIZER role (FastCGI 1.0, 6.3): status 200 grants access and each
 * `Variable-NAME: value` header is passed on by the web server to later handlers as NAME; any other status,
 * with its headers and body, goes to the client as the denial.
 */
import type { ServerResponse } from 'node:http';

/** Grants access; each variable reaches later handlers (Apache: as an environment variable, with AUTHORIZE_ prefix). */
export function allow(res: ServerResponse, variables: Record<string, string> = {}): void {
  res.statusCode = 200;
  for (const [name, value] of Object.entries(variables)) {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new TypeError(`variable name ${JSON.stringify(name)} must be letters, digits and _`);
    res.setHeader(`Variable-${name}`, value);
  }
  res.end();
}

/** Denies access: the status (403 unless given), headers and body go to the client. */
export function deny(res: ServerResponse, status = 403, body?: string | Buffer, headers: Record<string, string> = {}): void {
  if (status === 200) throw new RangeError('a denial cannot have status 200 (200 grants access)');
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (body !== undefined && !res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'text/plain');
  res.end(body);
}
