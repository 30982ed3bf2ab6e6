/**
 * SCGI application server (protocol 'scgi'), raw socket: one request per connection, a CGI response, then
 * the close. Every validation rule of the header gets a 400 (431 for a header over the limit) and the
 * close, followed by a normal request that must succeed. Both codecs.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeScgiHeader } from '../../lib/index.js';
import { CODECS } from '../helpers/codecs.js';
import { scgiHeaderBytes } from '../helpers/scgi.js';
import { header, parseCgi, scgiExchange, sleep, until, withTimeout } from '../helpers/fcgi-client.js';
import { deferred, startRouted, stopAll, type Running } from './setup.js';

afterEach(stopAll);

const HEADERS: [string, string][] = [
  ['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/echo?x=1'], ['QUERY_STRING', 'x=1'], ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['SERVER_NAME', 'localhost'], ['SERVER_PORT', '80'], ['REMOTE_ADDR', '127.0.0.1'], ['HTTP_HOST', 'localhost'],
];

/** `<len>:<header>,` by hand. */
const netstring = (header: Buffer): Buffer => Buffer.concat([Buffer.from(`${header.length}:`), header, Buffer.from(',')]);

async function expectScgiServes(r: Running): Promise<void> {
  const body = Buffer.from('after the fault');
  const got = await scgiExchange(r.port, [encodeScgiHeader(body.length, HEADERS), body]);
  const a = parseCgi(got);
  expect(a.status).toBe(200);
  expect(a.body.equals(body)).toBe(true);
}

describe.each(CODECS)('SCGI ($name codec)', ({ codec }) => {
  it('a request with a CONTENT_LENGTH body gets a CGI response, then the connection closes', async () => {
    const r = await startRouted({ codec, protocol: 'scgi' });
    const body = Buffer.alloc(100_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 17) & 0xff;
    const head = encodeScgiHeader(body.length, HEADERS);
    // Header cut in two, body in several writes; bytes past CONTENT_LENGTH are not part of the request.
    const got = await scgiExchange(r.port, [head.subarray(0, 5), head.subarray(5), body.subarray(0, 1000), body.subarray(1000), Buffer.from('EXTRA')]);
    const a = parseCgi(got);
    expect(got.toString('latin1').startsWith('Status: 200')).toBe(true);
    expect(got.toString('latin1')).not.toMatch(/^HTTP\//m);
    expect(header(a, 'X-Url')).toBe('/echo?x=1');
    expect(a.body.equals(body)).toBe(true);
    expect(r.server.activeRequests).toBe(0);
  });

  it('CONTENT_LENGTH 0: the handler gets an empty body at once', async () => {
    const r = await startRouted({ codec, protocol: 'scgi' });
    const got = await scgiExchange(r.port, encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/g']]));
    const a = parseCgi(got);
    expect(a.status).toBe(200);
    expect(header(a, 'X-Length')).toBe('0');
  });

  const INVALID: [string, Buffer][] = [
    ['a leading zero in the length', Buffer.concat([Buffer.from('0'), netstring(scgiHeaderBytes([['CONTENT_LENGTH', '0'], ['SCGI', '1']]))])],
    ['a non-digit length', Buffer.from('2x:CONTENT_LENGTH\x000\x00SCGI\x001\x00,')],
    ['a missing ":"', Buffer.from('24;CONTENT_LENGTH\x000\x00SCGI\x001\x00,')],
    ['a missing ","', Buffer.concat([netstring(scgiHeaderBytes([['CONTENT_LENGTH', '0'], ['SCGI', '1']])).subarray(0, -1), Buffer.from(';')])],
    ['CONTENT_LENGTH not first', netstring(scgiHeaderBytes([['SCGI', '1'], ['CONTENT_LENGTH', '0']]))],
    ['no CONTENT_LENGTH', netstring(scgiHeaderBytes([['SCGI', '1'], ['REQUEST_METHOD', 'GET']]))],
    ['a non-decimal CONTENT_LENGTH', netstring(scgiHeaderBytes([['CONTENT_LENGTH', '1a'], ['SCGI', '1']]))],
    ['a missing SCGI=1', netstring(scgiHeaderBytes([['CONTENT_LENGTH', '0'], ['REQUEST_METHOD', 'GET']]))],
    ['SCGI=2', netstring(scgiHeaderBytes([['CONTENT_LENGTH', '0'], ['SCGI', '2']]))],
    ['a repeated CGI name (a repeated HTTP_ name is how nginx 1.22 sends a repeated header, and is accepted)', netstring(scgiHeaderBytes([['CONTENT_LENGTH', '0'], ['SCGI', '1'], ['REQUEST_URI', '/a'], ['REQUEST_URI', '/b']]))],
    ['a header without its value', netstring(Buffer.from('CONTENT_LENGTH\x000\x00SCGI\x001\x00DANGLING'))],
  ];

  it.each(INVALID)('%s gets 400 and the close', async (_name, bytes) => {
    let ran = 0;
    const r = await startRouted({ codec, protocol: 'scgi' }, { '/': (_q, s) => { ran++; s.end(); } });
    const got = await scgiExchange(r.port, bytes);
    expect(got.toString('latin1').startsWith('Status: 400')).toBe(true);
    expect(ran).toBe(0);
    expect(r.protocolErrors.length).toBeGreaterThan(0);
    await expectScgiServes(r);
  });

  it('a header larger than maxParamsBytes gets 431 and the close, as soon as the length is read', async () => {
    const r = await startRouted({ codec, protocol: 'scgi', params: { maxParamsBytes: 256 } });
    const big = encodeScgiHeader(0, [['HTTP_X_BIG', 'v'.repeat(1000)]]);
    // Only the length and a few bytes: the server must not wait for the rest to refuse.
    const got = await scgiExchange(r.port, big.subarray(0, 10));
    expect(got.toString('latin1').startsWith('Status: 431')).toBe(true);
    await expectScgiServes(r);
  });

  it('params limits apply to the SCGI headers (431)', async () => {
    const r = await startRouted({ codec, protocol: 'scgi', params: { maxParamValueLength: 50 } });
    const got = await scgiExchange(r.port, encodeScgiHeader(0, [['HTTP_X', 'v'.repeat(51)]]));
    expect(got.toString('latin1').startsWith('Status: 431')).toBe(true);
    await expectScgiServes(r);
  });

  it('maxBodyBytes: a CONTENT_LENGTH over the limit gets 413 and the close', async () => {
    const r = await startRouted({ codec, protocol: 'scgi', maxBodyBytes: 100 });
    const got = await scgiExchange(r.port, [encodeScgiHeader(101, HEADERS), Buffer.alloc(101)]);
    expect(got.toString('latin1').startsWith('Status: 413')).toBe(true);
    await expectScgiServes(r);
  });

  it('maxRequests: a request beyond the limit gets 503 and the close', async () => {
    const release = deferred();
    const r = await startRouted({ codec, protocol: 'scgi', maxRequests: 1 }, { '/hold': async (_q, s) => { await release.promise; s.end('held'); } });
    const held = scgiExchange(r.port, encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/hold']]));
    await until(() => r.server.activeRequests === 1, 2000, 'one request in progress');
    const got = await scgiExchange(r.port, encodeScgiHeader(0, HEADERS));
    expect(got.toString('latin1').startsWith('Status: 503')).toBe(true);
    release.resolve();
    expect(parseCgi(await held).body.toString()).toBe('held');
    await until(() => r.server.activeRequests === 0, 2000, 'no request in progress');
    await expectScgiServes(r);
  });

  it('a request refused with 503 never reaches the handler, even when the rest of its body comes after a slot frees', async () => {
    const release = deferred();
    const seen: string[] = [];
    const r = await startRouted({ codec, protocol: 'scgi', maxRequests: 1 }, {
      '/hold': async (_q, s) => { seen.push('hold'); await release.promise; s.end('held'); },
      '/late': async (q, s) => { seen.push('late'); for await (const _ of q) { /* read */ } s.end('late'); },
    });
    const held = scgiExchange(r.port, encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/hold']]));
    await until(() => r.server.activeRequests === 1, 2000, 'one request in progress');
    // A web server still writing its body after the 503 and the close (a half-open peer).
    const b = connect({ port: r.port, host: '127.0.0.1', allowHalfOpen: true });
    const got: Buffer[] = [];
    b.on('data', (chunk: Buffer) => got.push(chunk));
    b.on('error', () => { /* the reset after the close */ });
    b.write(Buffer.concat([encodeScgiHeader(10, [['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/late']]), Buffer.from('12345')]));
    await until(() => Buffer.concat(got).toString('latin1').startsWith('Status: 503'), 2000, '503');
    release.resolve();
    expect(parseCgi(await held).body.toString()).toBe('held');
    await until(() => r.server.activeRequests === 0, 2000, 'no request in progress');
    b.write('67890');
    await sleep(150);
    b.destroy();
    expect(seen).toEqual(['hold']);
    expect(r.server.activeRequests).toBe(0);
  });

  it('a handler that throws gives 500 and the close', async () => {
    const r = await startRouted({ codec, protocol: 'scgi' }, { '/throw': () => { throw new Error('scgi boom'); } });
    const got = await scgiExchange(r.port, encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/throw']]));
    expect(got.toString('latin1').startsWith('Status: 500')).toBe(true);
    await expectScgiServes(r);
  });

  it('a response cut after its headers resets the connection, so the web server cannot take it for complete', async () => {
    const r = await startRouted({ codec, protocol: 'scgi' }, {
      '/half': async (_q, res) => { res.writeHead(200); res.write('partial'); await sleep(5); throw new Error('mid-body'); },
    });
    const outcome = await withTimeout(new Promise<{ bytes: string; error: string | null }>((resolve) => {
      const socket = connect(r.port, '127.0.0.1');
      const parts: Buffer[] = [];
      socket.on('data', (c: Buffer) => parts.push(c));
      socket.on('error', (err: NodeJS.ErrnoException) => resolve({ bytes: Buffer.concat(parts).toString('latin1'), error: err.code ?? 'error' }));
      socket.on('end', () => resolve({ bytes: Buffer.concat(parts).toString('latin1'), error: null }));
      socket.write(encodeScgiHeader(0, [['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/half']]));
    }), 3000, 'the cut response');
    expect(outcome.error).toBe('ECONNRESET');
    await expectScgiServes(r);
  });

  it('a connection closed in the middle of the body aborts the request', async () => {
    let signal: AbortSignal | undefined;
    const r = await startRouted({ codec, protocol: 'scgi' }, { '/hold': (req) => { signal = req.signal; req.resume(); } });
    const s = connect(r.port, '127.0.0.1');
    s.on('error', () => {});
    await withTimeout(new Promise((resolve) => s.once('connect', resolve)), 2000, 'connect');
    s.write(Buffer.concat([encodeScgiHeader(1000, [['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/hold']]), Buffer.alloc(10)]));
    await until(() => signal !== undefined, 2000, 'handler running');
    s.destroy();
    await until(() => signal!.aborted, 2000, 'request aborted');
    await until(() => r.server.activeRequests === 0, 2000, 'no request in progress');
    await expectScgiServes(r);
  });

  it('idleTimeout: a connection that sends nothing is closed', async () => {
    const r = await startRouted({ codec, protocol: 'scgi', idleTimeout: 100 });
    const got = await scgiExchange(r.port, [], 2000);
    expect(got.length).toBe(0);
    await sleep(10);
    await expectScgiServes(r);
  });
});
