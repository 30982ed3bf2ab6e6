/** timeout: Infinity means no read timer at all (capping applies only to finite durations). */
import { expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { Client, createServer } from '../../lib/index.js';

it('timeout: Infinity arms no per-request timer', async () => {
  const held: (() => void)[] = [];
  const server = createServer({}, async (req, res) => {
    if (req.url === '/hold') await new Promise<void>((r) => { held.push(r); });
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = new Client({ address: (server.address() as AddressInfo).port, timeout: Infinity, multiplex: true });
  const warm = await client.request({ params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/' } });
  await warm.text();
  const count = () => process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length;
  const before = count();
  const calls = Array.from({ length: 20 }, () => client.request({ params: { REQUEST_METHOD: 'GET', REQUEST_URI: '/hold' } }));
  await new Promise((r) => setTimeout(r, 200));
  const during = count();
  for (const h of held) h();
  await Promise.allSettled(calls);
  await client.close();
  await new Promise<void>((r) => server.close({ timeout: 10 }, () => r()));
  expect(during).toBeLessThanOrEqual(before);
});
