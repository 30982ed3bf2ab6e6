/**
 * FastCGI application server, raw socket: malformed input and every configured limit crossed. Each case
 * is answered the protocol-correct way (close, HTTP 400/413/431 in STDOUT, refusal), never a crash or a
 * hang, and is followed by a normal request that must succeed (on a new connection when the old one is
 * rightly closed). Both codecs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { T, record } from '../helpers/fcgi.js';
import {
  PS, begin, cgiParams, encodePairs, params, parseCgi, request, sleep, stdin, until,
} from '../helpers/fcgi-client.js';
import { deferred, expectServes, startRouted, stopAll } from './setup.js';

afterEach(stopAll);

describe.each(CODECS)('FastCGI malformed input ($name codec)', ({ codec }) => {
  it.each([0, 2])('a record with version byte %i closes the connection', async (version) => {
    const r = await startRouted({ codec });
    const c = await r.client();
    c.send(record(T.BEGIN_REQUEST, 1, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0]), 0, { version }));
    await c.waitClosed();
    expect(r.protocolErrors.map((e) => (e as Error & { code: string }).code)).toContain('ERR_FASTCGI_BAD_VERSION');
    await expectServes(r);
  });

  it('a bad version byte in the middle of a request closes the connection and aborts the request', async () => {
    const signals: AbortSignal[] = [];
    const r = await startRouted({ codec }, { '/hold': (req) => { signals.push(req.signal); } });
    const c = await r.client();
    c.send(request(1, { uri: '/hold' }));
    await until(() => signals.length === 1, 2000, 'handler running');
    c.send(record(T.STDIN, 1, 'x', 0, { version: 2 }));
    await c.waitClosed();
    await until(() => signals[0].aborted, 1000, 'request aborted');
    expect(r.server.activeRequests).toBe(0);
    await expectServes(r);
  });

  it('a duplicate BEGIN_REQUEST for an active id closes the connection', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/x'), false), begin(1));
    await c.waitClosed();
    expect(r.server.activeRequests).toBe(0);
    await expectServes(r);
  });

  it('STDIN before the end of PARAMS closes the connection', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/x'), false), stdin(1, 'too early'));
    await c.waitClosed();
    expect(r.server.activeRequests).toBe(0);
    await expectServes(r);
  });

  it('STDIN past CONTENT_LENGTH closes the connection: a wrapped record length cannot smuggle a second request', async () => {
    const seen: string[] = [];
    const r = await startRouted({ codec, roles: ['responder'] }, {
      '/upload': (req, res) => { req.resume(); req.on('end', () => { seen.push('/upload'); res.end(); }); },
      '/admin': (_req, res) => { seen.push('/admin'); res.end(); },
    });
    const c = await r.client();
    // The body announces 4 bytes; its STDIN carries 4 and then, still in STDIN, a whole second request.
    const hidden = request(2, { uri: '/admin' });
    c.send(begin(1), params(1, cgiParams('/upload', { CONTENT_LENGTH: '4' }, 'POST')), stdin(1, Buffer.concat([Buffer.from('abcd'), hidden])));
    await c.waitClosed();
    expect(seen).not.toContain('/admin');
    expect(r.protocolErrors.map((e) => (e as Error & { code: string }).code)).toContain('ERR_FASTCGI_BODY_LENGTH');
    await expectServes(r);
  });

  it('without CONTENT_LENGTH (Apache passes a chunked body on so) STDIN of any length is the body', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    const body = Buffer.alloc(20_000, 7);
    const p = cgiParams('/nolength', {}, 'POST');
    c.send(begin(1), params(1, p), stdin(1, body));
    const res = await c.response(1);
    expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    expect(parseCgi(res.stdout).body.equals(body)).toBe(true);
  });

  it('an empty STDIN before CONTENT_LENGTH bytes closes the connection; the request is aborted, not passed off as whole', async () => {
    let complete: boolean | undefined;
    let aborted = false;
    const r = await startRouted({ codec }, {
      '/short': (req, res) => {
        req.signal.addEventListener('abort', () => { aborted = true; });
        req.resume();
        req.on('end', () => { complete = req.complete; res.end(); });
      },
    });
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/short', { CONTENT_LENGTH: '9' }, 'POST')), stdin(1, 'abcde'));
    await c.waitClosed();
    await until(() => aborted, 1000, 'the abort');
    expect(complete).toBeUndefined();
    expect(r.server.activeRequests).toBe(0);
    await expectServes(r);
  });

  it('a stream record on id 0 split across chunks gets one UNKNOWN_TYPE, not one per piece', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    const rec = record(T.STDIN, 0, Buffer.alloc(1000, 1));
    for (let at = 0; at < rec.length; at += 100) { c.send(rec.subarray(at, at + 100)); await sleep(5); }
    await sleep(50);
    const replies = [];
    for (;;) {
      const m = await c.nextManagement(200).catch(() => null);
      if (m === null) break;
      replies.push(m);
    }
    expect(replies).toHaveLength(1);
    await expectServes(r, c);
  });

  it('params with a truncated pair get HTTP 400 in STDOUT and END_REQUEST; the connection stays usable', async () => {
    let ran = 0;
    const r = await startRouted({ codec }, { '/x': (_q, s) => { ran++; s.end(); } });
    const c = await r.client();
    const good = encodePairs(Object.entries(cgiParams('/x')));
    // A pair announcing a 10-byte name and a 5-byte value, with only 3 bytes left in the stream.
    const truncated = Buffer.concat([good, Buffer.from([10, 5]), Buffer.from('abc')]);
    c.send(begin(1), record(T.PARAMS, 1, truncated), record(T.PARAMS, 1), stdin(1, ''));
    const res = await c.response(1);
    expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    expect(parseCgi(res.stdout).status).toBe(400);
    expect(res.stdoutEnded).toBe(true);
    expect(ran).toBe(0);
    expect(await c.staysOpen(50)).toBe(true);
    await expectServes(r, c, 2);
  });

  it('a pair length near 2^31 (CVE-2025-23016 shape) is refused, not allocated', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    const evil = Buffer.from([0xff, 0xff, 0xff, 0xf0, 0xff, 0xff, 0xff, 0xf0, 0x41, 0x42]);
    c.send(begin(1), record(T.PARAMS, 1, evil), record(T.PARAMS, 1), stdin(1, ''));
    const res = await c.response(1);
    expect([400, 431]).toContain(parseCgi(res.stdout).status);
    await expectServes(r, c, 2);
  });

  it('a wrapped 16-bit STDIN length (end of STDIN, then body bytes as records) fails the connection cleanly', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    // HAProxy's bug: a 65536-byte STDIN record written with length 0. The body bytes follow as if records.
    const smuggled = Buffer.alloc(4096, 'A');
    c.send(begin(1), params(1, cgiParams('/x', { CONTENT_LENGTH: '65536' }, 'POST')), record(T.STDIN, 1), smuggled);
    await c.waitClosed();
    await expectServes(r);
  });

  it('contentLength 65535 with padding 255 is read in 32 bits: the body arrives intact', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    const body = Buffer.alloc(65535 * 2);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    c.send(begin(1), params(1, cgiParams('/x', { CONTENT_LENGTH: String(body.length) }, 'POST')),
      record(T.STDIN, 1, body.subarray(0, 65535), 255, { padByte: 0x01 }),
      record(T.STDIN, 1, body.subarray(65535), 255, { padByte: 0x01 }), record(T.STDIN, 1));
    const res = await c.response(1);
    expect(parseCgi(res.stdout).body.equals(body)).toBe(true);
    await expectServes(r, c, 2);
  });

  it('a BEGIN_REQUEST shorter than 8 bytes closes the connection', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    c.send(record(T.BEGIN_REQUEST, 1, Buffer.from([0, 1, 1])));
    await c.waitClosed();
    await expectServes(r);
  });

  it('a GET_VALUES with a truncated pair is a protocol error: the connection is closed, the server goes on', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    c.send(record(T.GET_VALUES, 0, Buffer.from([14, 0, 0x46, 0x43])));
    await c.waitClosed();
    await expectServes(r);
  });

  it('a pair split across two PARAMS records is accepted', async () => {
    const r = await startRouted({ codec });
    const c = await r.client();
    const all = encodePairs(Object.entries(cgiParams('/after', { CONTENT_LENGTH: '2' }, 'POST')));
    c.send(begin(1), record(T.PARAMS, 1, all.subarray(0, 7)), record(T.PARAMS, 1, all.subarray(7)), record(T.PARAMS, 1), stdin(1, 'ok'));
    const res = await c.response(1);
    expect(parseCgi(res.stdout).body.toString()).toBe('ok');
  });
});

describe.each(CODECS)('FastCGI limits ($name codec)', ({ codec }) => {
  it('maxConnections: a connection beyond the limit is closed at once', async () => {
    const r = await startRouted({ codec, maxConnections: 2 });
    const a = await r.client(), b = await r.client();
    await expectServes(r, a, 1);
    await expectServes(r, b, 1);
    const extra = await r.client();
    await extra.waitClosed();
    expect(a.closed || b.closed).toBe(false);
    b.destroy();
    await sleep(50);
    await expectServes(r);
  });

  it('many concurrent connections (200, CVE-2012-6687 shape) are all served', async () => {
    const r = await startRouted({ codec });
    const clients = await Promise.all(Array.from({ length: 200 }, () => r.client()));
    clients.forEach((c, i) => c.send(request(1, { body: `c${i}`, keepConn: false })));
    const all = await Promise.all(clients.map((c) => c.response(1, 5000)));
    all.forEach((res, i) => expect(parseCgi(res.stdout).body.toString()).toBe(`c${i}`));
  });

  it('maxParamsBytes: params larger than the limit get 431', async () => {
    const r = await startRouted({ codec, params: { maxParamsBytes: 1024 } });
    const c = await r.client();
    c.send(request(1, { params: cgiParams('/x', { HTTP_X_BIG: 'v'.repeat(2000) }) }));
    const res = await c.response(1);
    expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    expect(parseCgi(res.stdout).status).toBe(431);
    await expectServes(r, c, 2);
  });

  it('maxParamsBytes: params over the limit across many small PARAMS records get 431', async () => {
    const r = await startRouted({ codec, params: { maxParamsBytes: 1024 } });
    const c = await r.client();
    const pairs = encodePairs(Array.from({ length: 200 }, (_, i) => [`HTTP_X_${i}`, 'value'] as const));
    const recs: Buffer[] = [begin(1)];
    for (let at = 0; at < pairs.length; at += 100) recs.push(record(T.PARAMS, 1, pairs.subarray(at, at + 100)));
    recs.push(record(T.PARAMS, 1), stdin(1, ''));
    c.send(recs);
    expect(parseCgi((await c.response(1)).stdout).status).toBe(431);
    await expectServes(r, c, 2);
  });

  it('maxParams: more pairs than the limit get 431', async () => {
    const r = await startRouted({ codec, params: { maxParams: 12 } });
    const c = await r.client();
    c.send(request(1, { params: cgiParams('/x', { A: '1', B: '2' }) })); // 13 pairs
    expect(parseCgi((await c.response(1)).stdout).status).toBe(431);
    c.send(request(2, { params: cgiParams('/y', { A: '1' }) })); // 12 pairs: accepted
    expect(parseCgi((await c.response(2)).stdout).status).toBe(200);
  });

  it('maxParamNameLength: a longer name gets 431; one at the limit is accepted', async () => {
    // GATEWAY_INTERFACE, the longest of the usual names, has 17 bytes.
    const r = await startRouted({ codec, params: { maxParamNameLength: 20 } });
    const c = await r.client();
    c.send(request(1, { params: cgiParams('/x', { HTTP_X_ABCDEFGHIJKLMN: '1' }) })); // 21 bytes
    expect(parseCgi((await c.response(1)).stdout).status).toBe(431);
    c.send(request(2, { params: cgiParams('/x', { HTTP_X_ABCDEFGHIJKLM: '1' }) })); // 20 bytes
    expect(parseCgi((await c.response(2)).stdout).status).toBe(200);
    await expectServes(r, c, 3);
  });

  it('maxParamValueLength: a longer value gets 431; one at the limit is accepted', async () => {
    const r = await startRouted({ codec, params: { maxParamValueLength: 100 } });
    const c = await r.client();
    c.send(request(1, { params: cgiParams('/x', { HTTP_X: 'v'.repeat(101) }) }));
    expect(parseCgi((await c.response(1)).stdout).status).toBe(431);
    c.send(request(2, { params: cgiParams('/x', { HTTP_X: 'v'.repeat(100) }) }));
    expect(parseCgi((await c.response(2)).stdout).status).toBe(200);
    await expectServes(r, c, 3);
  });

  it('maxBodyBytes: a body over the limit gets 413 in STDOUT and END_REQUEST', async () => {
    const r = await startRouted({ codec, maxBodyBytes: 1000 });
    const c = await r.client();
    c.send(request(1, { body: Buffer.alloc(1001, 'b') }));
    const res = await c.response(1);
    expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    expect(r.server.activeRequests).toBe(0);
    expect(res.stdout.toString('latin1')).toMatch(/^Status: 413/);
    await expectServes(r, c, 2);
  });

  it('maxBodyBytes: a body at the limit is accepted', async () => {
    const r = await startRouted({ codec, maxBodyBytes: 1000 });
    const c = await r.client();
    c.send(request(1, { body: Buffer.alloc(1000, 'b') }));
    const ok = parseCgi((await c.response(1)).stdout);
    expect(ok.status).toBe(200);
    expect(ok.body.length).toBe(1000);
  });

  it('maxBodyBytes: a handler that already answered is cut off cleanly when the body goes over', async () => {
    const r = await startRouted({ codec, maxBodyBytes: 100 }, {
      '/early': (req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.write('early '); req.resume(); },
    });
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/early', { CONTENT_LENGTH: '500' }, 'POST')));
    await sleep(20);
    c.send(stdin(1, Buffer.alloc(500, 'z')));
    // The header was out already: the response is cut, not replaced, and not passed off as complete either
    // (its only request: the connection closes without END_REQUEST).
    await expect(c.response(1)).rejects.toThrow(/closed before END_REQUEST/);
    expect(parseCgi(c.partial(1)!.stdout).status).toBe(200);
    await expectServes(r);
  });

  it('idleTimeout: a connection with no request and no bytes is closed after it', async () => {
    const r = await startRouted({ codec, idleTimeout: 150 });
    const c = await r.client();
    const t0 = Date.now();
    await c.waitClosed(2000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    await expectServes(r);
  });

  it('idleTimeout: a request in progress is not cut; the connection is closed once idle after it', async () => {
    const release = deferred();
    const r = await startRouted({ codec, idleTimeout: 150 }, { '/slow': async (_q, s) => { await release.promise; s.end('late'); } });
    const c = await r.client();
    c.send(request(1, { uri: '/slow' }));
    await sleep(400);
    expect(c.closed).toBe(false);
    release.resolve();
    expect(parseCgi((await c.response(1)).stdout).body.toString()).toBe('late');
    await c.waitClosed(2000);
    await expectServes(r);
  });
});
