/**
 * Durations past what a Node timer holds (2^31 - 1 ms), Infinity included, mean "very long", not "now":
 * Node turns a longer delay into 1 ms, so every timeout option is capped to the longest a timer takes.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { Client, createServer, type Server } from '../../lib/index.js';
import { main } from '../../lib/cli.js';

const servers: Server[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close({ timeout: 50 }, () => r()));
});

/** A server answering after 200 ms, its own timeouts "infinite". */
async function slowServer(): Promise<number> {
  const server = createServer({ idleTimeout: Infinity, paramsTimeout: 2 ** 40 }, (_req, res) => {
    setTimeout(() => res.end('late but fine'), 200);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

it.each([
  ['timeout 2^31', { timeout: 2 ** 31 }, {}],
  ['connectTimeout Infinity, idleTimeout Infinity', { connectTimeout: Infinity, idleTimeout: Infinity }, {}],
  ['a request timeout of Infinity', {}, { timeout: Infinity }],
])('%s: the request waits for its answer', async (_, clientOptions, requestOptions) => {
  const client = new Client({ address: `127.0.0.1:${await slowServer()}`, ...clientOptions });
  clients.push(client);
  const res = await client.request({ params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/' }, ...requestOptions });
  expect(await res.text()).toBe('late but fine');
});

it('cgiwire request --timeout 3000000000 waits for the answer', async () => {
  const port = await slowServer();
  let out = '';
  const sink = (f: (s: string) => void): Writable => new Writable({ write(c, _e, cb) { f(String(c)); cb(); } });
  const code = await main(['request', `127.0.0.1:${port}`, '/', '--timeout', '3000000000'],
    { stdout: sink((s) => { out += s; }), stderr: sink(() => {}) });
  expect(code).toBe(0);
  expect(out).toContain('late but fine');
});
