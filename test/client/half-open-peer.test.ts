/**
 * A FastCGI peer that never closes its side after the client's FIN (half-open) must not keep a pool slot
 * for ever: the next request would wait in the queue without end, and client.close() would never resolve.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { Client, codec, encodeEndRequest, encodeStream, RecordType } from '../../lib/index.js';
import { sleep, withTimeout } from '../helpers/fcgi-client.js';

const cleanups: (() => void)[] = [];
afterEach(() => { for (const f of cleanups.splice(0)) f(); });

/** Answers every request "ok" and ignores the client's FIN. */
async function halfOpenPeer(): Promise<{ port: number; ended: () => number }> {
  const sockets: Socket[] = [];
  let ended = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => { /* destroyed by the client */ });
    socket.on('end', () => { ended++; });
    const reader = codec.createRecordReader((type, id, _buf, _offset, length) => {
      if (type !== RecordType.PARAMS || length !== 0) return;
      for (const p of encodeStream(codec.core, RecordType.STDOUT, id, Buffer.from('Content-Type: text/plain\r\n\r\nok'), false)) socket.write(p);
      socket.write(encodeEndRequest(id, 0, 0));
    });
    socket.on('data', (c: Buffer) => { reader.push(c); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => { for (const s of sockets) s.destroy(); server.close(); });
  return { port: (server.address() as AddressInfo).port, ended: () => ended };
}

it('a connection closed for idleness frees its slot although the peer keeps its side open', async () => {
  const peer = await halfOpenPeer();
  const client = new Client({ address: `127.0.0.1:${peer.port}`, multiplex: false, maxConnectionsPerAddress: 1, idleTimeout: 100 });
  cleanups.push(() => client.destroy());
  expect(await (await client.request({ params: { REQUEST_METHOD: 'GET' } })).text()).toBe('ok');
  await sleep(300);
  expect(peer.ended()).toBe(1); // the client's FIN went out; the peer ignores it
  const next = await withTimeout(client.request({ params: { REQUEST_METHOD: 'GET' } }), 3000, 'the next request');
  expect(await next.text()).toBe('ok');
});

it('client.close() resolves although the peer keeps its side open', async () => {
  const peer = await halfOpenPeer();
  const client = new Client({ address: `127.0.0.1:${peer.port}`, multiplex: false });
  cleanups.push(() => client.destroy());
  await (await client.request({ params: { REQUEST_METHOD: 'GET' } })).text();
  await withTimeout(client.close(), 3000, 'client.close()');
});
