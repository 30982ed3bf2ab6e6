/**
 * The read timeout is the longest wait between two steps of a request: sending a piece of its body
 * counts as one, so an upload that keeps moving is not cut however long it takes in all.
 */
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { Client, createServer } from '../../lib/index.js';
import { stopAfterEach } from './started.js';
import { fakeFastCgi } from './fake-peer.js';
import { withTimeout } from '../helpers/fcgi-client.js';

const { servers, clients, peers } = stopAfterEach();

/** A body of `count` chunks, one every `every` ms. */
function slowBody(count: number, every: number): Readable {
  let sent = 0;
  return new Readable({
    read() { setTimeout(() => this.push(sent++ < count ? 'chunk\n' : null), every); },
  });
}

it('a body sent a chunk at a time over longer than the timeout is not cut by it', async () => {
  const server = createServer({}, (req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => res.end(`got ${n} bytes`));
    req.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = new Client({ address: (server.address() as AddressInfo).port, timeout: 400 });
  clients.push(client);
  // 8 chunks 100 ms apart: 800 ms in all, twice the timeout.
  const res = await withTimeout(client.request({ params: { REQUEST_METHOD: 'POST' }, body: slowBody(8, 100) }), 3000, 'request');
  expect(await res.text()).toBe('got 48 bytes');
});

it('the timeout still runs from the last chunk sent when the peer then never answers', async () => {
  const peer = await fakeFastCgi(() => {});
  peers.push(peer);
  const client = new Client({ address: peer.port, timeout: 400, multiplex: false });
  clients.push(client);
  const started = Date.now();
  const err = await withTimeout(client.request({ params: { REQUEST_METHOD: 'POST' }, body: slowBody(6, 100) }).then(() => null, (e: Error) => e),
    3000, 'request');
  expect(err).toMatchObject({ code: 'ERR_CGIWIRE_TIMEOUT' });
  // The last chunk went at about 600 ms (and the end about 700 ms): the wait counts from there.
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
});
