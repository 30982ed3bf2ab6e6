/**
 * Client#getValues: its timeout is checked and capped as every other timeout is, and it is part of the
 * client's life: refused once the client is closed, ended when the client is destroyed.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Client, codec, encodeGetValuesResult, parseAddress, RecordType } from '../../lib/index.js';
import { FastCgiClientConnection } from '../../lib/fastcgi/client-connection.js';
import { stopAfterEach } from './started.js';
import { fakeFastCgi, type FakePeer } from './fake-peer.js';
import { until, withTimeout } from '../helpers/fcgi-client.js';

const { clients, peers } = stopAfterEach();

const VALUES = { FCGI_MAX_CONNS: '10', FCGI_MAX_REQS: '10', FCGI_MPXS_CONNS: '0' };

/** A peer answering GET_VALUES after `delay` ms (never when null). */
async function valuesPeer(delay: number | null): Promise<FakePeer> {
  const peer = await fakeFastCgi(() => {}, (socket: Socket, type: number) => {
    if (type !== RecordType.GET_VALUES || delay === null) return;
    setTimeout(() => { if (!socket.destroyed) socket.write(encodeGetValuesResult(Object.entries(VALUES))); }, delay);
  });
  peers.push(peer);
  return peer;
}

function clientOf(peer: FakePeer): Client {
  const client = new Client({ address: peer.port });
  clients.push(client);
  return client;
}

describe('getValues timeout', () => {
  it.each([['2^31', 2 ** 31], ['3000000000', 3e9], ['Infinity', Infinity]])('%s ms waits for the answer', async (_, timeout) => {
    const client = clientOf(await valuesPeer(100));
    expect(await withTimeout(client.getValues(undefined, { timeout }), 2000, 'getValues')).toEqual(VALUES);
  });

  it.each([['the string "200"', '200'], ['NaN', NaN], ['-1', -1], ['0', 0]])('%s is refused with ERR_OUT_OF_RANGE', async (_, timeout) => {
    const peer = await valuesPeer(0);
    const client = clientOf(peer);
    await expect(client.getValues(undefined, { timeout: timeout as number })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(peer.connections).toHaveLength(0);
  });

  it('a connection asked with a timeout past what a timer holds waits for the answer', async () => {
    const peer = await valuesPeer(100);
    const asked = new Promise<Record<string, string>>((resolve, reject) => {
      const conn: FastCgiClientConnection = new FastCgiClientConnection(parseAddress(peer.port), {
        ready: () => { conn.getValues(undefined, Infinity).then(resolve, reject).finally(() => conn.destroy()); },
        free: () => {}, requeue: () => {}, closed: () => {},
      }, {
        codec, connectTimeout: 1000, idleTimeout: 1000, maxRequestsPerConnection: 1, probeTimeout: 1000, pipeline: 1,
        peer: { multiplexes: false, maxRequests: null, maxConnections: null }, onPeerInfo: () => {},
      });
    });
    expect(await withTimeout(asked, 2000, 'getValues')).toEqual(VALUES);
  });
});
describe('getValues and the client\'s life', () => {
  it.each(['close', 'destroy'] as const)('is refused with ERR_CGIWIRE_CLIENT_CLOSED after %s()', async (how) => {
    const peer = await valuesPeer(0);
    const client = clientOf(peer);
    if (how === 'close') await client.close();
    else client.destroy();
    await expect(client.getValues()).rejects.toMatchObject({ code: 'ERR_CGIWIRE_CLIENT_CLOSED' });
    expect(peer.connections).toHaveLength(0);
  });

  it('destroy() ends a getValues under way: it fails with ERR_CGIWIRE_CLIENT_CLOSED, its connection closes', async () => {
    const peer = await valuesPeer(null);
    const client = clientOf(peer);
    const values = client.getValues(undefined, { timeout: 60_000 });
    await until(() => peer.seen.some((r) => r.type === RecordType.GET_VALUES), 2000, 'GET_VALUES sent');
    client.destroy();
    await expect(withTimeout(values, 1000, 'getValues settles')).rejects.toMatchObject({ code: 'ERR_CGIWIRE_CLIENT_CLOSED' });
    await until(() => peer.connections[0].readableEnded || peer.connections[0].destroyed, 2000, 'the connection closes');
  });

  it('a getValues under way when close() is called may finish', async () => {
    const client = clientOf(await valuesPeer(100));
    const values = client.getValues();
    const closed = client.close();
    expect(await withTimeout(values, 2000, 'getValues')).toEqual(VALUES);
    await withTimeout(closed, 2000, 'close');
  });
});
