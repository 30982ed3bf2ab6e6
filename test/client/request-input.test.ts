/**
 * What request() takes from its caller, checked before anything goes out: body stream chunks, roles,
 * the per-request timeout, params. Bad input is refused with a clear error; it never crashes the process
 * nor goes out garbled.
 */
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Client, ScgiClient, createServer, type ParamsInput } from '../../lib/index.js';
import { stopAfterEach } from './started.js';
import { fakeFastCgi } from './fake-peer.js';

const { servers, clients, peers } = stopAfterEach();

/** An application answering with the body bytes it read, as hex. */
async function bodyEcho(protocol: 'fastcgi' | 'scgi'): Promise<number> {
  const server = createServer({ protocol }, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => res.end(Buffer.concat(parts).toString('hex')));
    req.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

function clientFor(protocol: 'fastcgi' | 'scgi', port: number): Client | ScgiClient {
  const client = protocol === 'scgi' ? new ScgiClient({ address: port, timeout: 2000 }) : new Client({ address: port, timeout: 2000 });
  clients.push(client);
  return client;
}

describe.each(['fastcgi', 'scgi'] as const)('a streamed request body (%s)', (protocol) => {
  it('sends Uint8Array chunks as their bytes', async () => {
    const client = clientFor(protocol, await bodyEcho(protocol));
    const bytes = new Uint8Array([0, 104, 105, 255]);
    // A view into a larger buffer: only its own bytes go out.
    const view = new Uint8Array(bytes.buffer, 1, 2);
    const body = Readable.from([bytes, view, 'z']);
    const res = await client.request({ params: { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '7' }, body });
    expect(await res.text()).toBe('006869ff68697a');
  });

  it.each([
    ['a number', [1, 2, 3]],
    ['an object', [Buffer.from('ok'), { not: 'bytes' }]],
  ])('fails with ERR_CGIWIRE_BODY_FAILED on a chunk that is %s', async (_, chunks) => {
    const client = clientFor(protocol, await bodyEcho(protocol));
    const body = Readable.from(chunks);
    const err = await client.request({ params: { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '3' }, body }).then(() => null, (e: Error) => e);
    expect(err).toMatchObject({ code: 'ERR_CGIWIRE_BODY_FAILED' });
    expect(err!.message).toMatch(/strings or bytes/);
  });
});

describe('request options', () => {
  it.each(['toString', 'constructor', 'hasOwnProperty', '__proto__', 'nope'])('refuses the role %j with a TypeError', async (role) => {
    const client = clientFor('fastcgi', await bodyEcho('fastcgi'));
    const err = await client.request({ params: { REQUEST_METHOD: 'GET' }, role: role as 'responder' }).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err!.message).toMatch(/unknown role/);
    expect(client.stats).toEqual({ connections: 0, queued: 0 });
  });

  it.each([['the string "200"', '200'], ['NaN', NaN], ['-200', -200], ['null', null]])('refuses the timeout %s as new Client() does (ERR_OUT_OF_RANGE)', async (_, timeout) => {
    const port = await bodyEcho('fastcgi');
    expect(() => new Client({ address: port, timeout: timeout as number })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    const client = clientFor('fastcgi', port);
    const err = await client.request({ params: { REQUEST_METHOD: 'GET' }, timeout: timeout as number }).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect(err).toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: expect.stringMatching(/^timeout must be/) });
    expect(client.stats).toEqual({ connections: 0, queued: 0 });
  });
});

describe('request params', () => {
  /** A peer answering with the params it received, as JSON [name, value] pairs. */
  async function paramsEcho(): Promise<Client> {
    const peer = await fakeFastCgi((r) => {
      r.stdout(`Status: 200\r\n\r\n${JSON.stringify(Object.entries(r.params))}`);
      r.end();
    });
    peers.push(peer);
    const client = new Client({ address: peer.port, multiplex: false, timeout: 2000 });
    clients.push(client);
    return client;
  }
  const sent = async (client: Client, params: unknown): Promise<unknown> =>
    JSON.parse(await (await client.request({ params: params as ParamsInput })).text());

  it('takes an object, a Map, an array of pairs and pairs that are any two-element iterable', async () => {
    const client = await paramsEcho();
    const want = [['REQUEST_METHOD', 'GET'], ['N', '1']];
    expect(await sent(client, { REQUEST_METHOD: 'GET', N: 1, SKIPPED: undefined })).toEqual(want);
    expect(await sent(client, new Map<string, unknown>([['REQUEST_METHOD', 'GET'], ['N', 1]]))).toEqual(want);
    expect(await sent(client, [['REQUEST_METHOD', 'GET'], ['N', 1], ['SKIPPED', undefined]])).toEqual(want);
    expect(await sent(client, new Set([new Set(['REQUEST_METHOD', 'GET']), new Map([['N', 1]]).entries().next().value]))).toEqual(want);
    function* pairs(): Generator<Iterable<unknown>> {
      yield (function* () { yield 'REQUEST_METHOD'; yield 'GET'; })();
      yield ['N', 1];
    }
    expect(await sent(client, pairs())).toEqual(want);
  });

  it.each([
    ['NAME=VALUE strings', ['REQUEST_METHOD=GET', 'SCRIPT_FILENAME=/srv/index.php']],
    ['a two-char string', ['AB']],
    ['a pair of one', [['ONLY_A_NAME']]],
    ['a pair of three', [['A', 'b', 'extra']]],
    ['an empty pair', [[]]],
    ['a number', [7]],
    ['null', [null]],
    ['an object that is not iterable', [{ name: 'A', value: 'b' }]],
  ])('refuses %s in place of a [name, value] pair with a TypeError', async (_, params) => {
    const client = await paramsEcho();
    const err = await client.request({ params: params as ParamsInput }).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err!.message).toMatch(/\[name, value\] pair/);
  });

  it.each([
    ['=', { 'SCRIPT_FILENAME=/etc/passwd': 'v' }],
    ['NUL', { 'A\0B': 'w' }],
    ['NUL, as a pair', [['SCRIPT_FILENAME\0X', 'v']]],
    ['nothing (empty)', [['', 'v']]],
  ])('refuses a param name holding %s with a TypeError (RFC 3875, 4.1)', async (_, params) => {
    const client = await paramsEcho();
    const err = await client.request({ params: params as ParamsInput }).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(err!.message).toMatch(/param name/);
  });
});
