/**
 * FastCGI application server, raw socket: multiplexing, management records, refusals (UNKNOWN_ROLE,
 * CANT_MPX_CONN, OVERLOADED), ABORT_REQUEST, KEEP_CONN and the closed connection. The test plays the web
 * server with cgiwire's encoders and reads the answers with a RecordReader. Both codecs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { T, record } from '../helpers/fcgi.js';
import {
  PS, ROLE, begin, cgiParams, getValues, params, parseCgi, header, request, sleep, stdin, until,
} from '../helpers/fcgi-client.js';
import { deferred, expectServes, startRouted, stopAll, type Handler } from './setup.js';

afterEach(stopAll);

/** Distinct deterministic bytes. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 0xff; }
  return b;
}

describe.each(CODECS)('FastCGI requests ($name codec)', ({ codec }) => {
  describe('multiplexing', () => {
    it('two interleaved requests on one connection each get their own response and intact body', async () => {
      const seen = new Map<string, Buffer>();
      const recordBody: Handler = async (req, res) => {
        const parts: Buffer[] = [];
        for await (const c of req) parts.push(c as Buffer);
        const body = Buffer.concat(parts);
        seen.set(req.url!, body);
        res.setHeader('X-Url', req.url!);
        res.end(body);
      };
      const r = await startRouted({ codec }, { '/one': recordBody, '/two': recordBody });
      const c = await r.client();
      const a = bytes(70_000, 1), b = bytes(5_000, 2);
      c.send(begin(1));
      await sleep(5);
      c.send(begin(2));
      c.send(params(2, cgiParams('/two', { CONTENT_LENGTH: String(b.length) }, 'POST')));
      await sleep(5);
      c.send(params(1, cgiParams('/one', { CONTENT_LENGTH: String(a.length) }, 'POST')));
      c.send(stdin(1, a.subarray(0, 1000), false));
      await sleep(5);
      c.send(stdin(2, b.subarray(0, 3000), false));
      c.send(stdin(1, a.subarray(1000, 40_000), false, 8192));
      await sleep(5);
      c.send(stdin(2, b.subarray(3000)));
      c.send(stdin(1, a.subarray(40_000)));
      const [r1, r2] = await Promise.all([c.response(1), c.response(2)]);
      for (const [res, body, url] of [[r1, a, '/one'], [r2, b, '/two']] as const) {
        expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
        expect(res.stdoutEnded).toBe(true);
        expect(res.events.at(-1)).toBe('end');
        const cgi = parseCgi(res.stdout);
        expect(cgi.status).toBe(200);
        expect(header(cgi, 'X-Url')).toBe(url);
        expect(cgi.body.equals(body)).toBe(true);
        expect(seen.get(url)!.equals(body)).toBe(true);
      }
      await expectServes(r, c, 3);
    });

    it('100 requests multiplexed on one connection (maxRequestsPerConnection 100) all answer correctly', async () => {
      const r = await startRouted({ codec, maxRequestsPerConnection: 100 });
      const c = await r.client();
      const ids = Array.from({ length: 100 }, (_, i) => i + 1);
      const bodies = new Map(ids.map((id) => [id, bytes(100 + id * 37, id)]));
      c.send(ids.map((id) => begin(id)));
      c.send([...ids].reverse().map((id) => params(id, cgiParams(`/r${id}`, { CONTENT_LENGTH: String(bodies.get(id)!.length) }, 'POST'))));
      // First halves in one order, second halves in another.
      c.send(ids.map((id) => stdin(id, bodies.get(id)!.subarray(0, 50), false)));
      c.send([...ids].sort((x, y) => (x * 7919) % 101 - (y * 7919) % 101).map((id) => stdin(id, bodies.get(id)!.subarray(50))));
      const all = await Promise.all(ids.map((id) => c.response(id, 5000)));
      for (const res of all) {
        expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
        const cgi = parseCgi(res.stdout);
        expect(header(cgi, 'X-Url')).toBe(`/r${res.id}`);
        expect(cgi.body.equals(bodies.get(res.id)!)).toBe(true);
      }
      expect(r.server.activeRequests).toBe(0);
    });
  });

  describe('management records', () => {
    it('GET_VALUES is answered with exactly the known names asked for, carrying the enforced limits', async () => {
      const r = await startRouted({ codec, maxConnections: 7, maxRequests: 33, maxRequestsPerConnection: 5 });
      const c = await r.client();
      c.send(getValues(['FCGI_MAX_CONNS', 'FCGI_NOT_A_VARIABLE', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']));
      const m = await c.nextManagement();
      expect(m.type).toBe(T.GET_VALUES_RESULT);
      expect(codec.decodeNameValues(m.content)).toEqual([['FCGI_MAX_CONNS', '7'], ['FCGI_MAX_REQS', '33'], ['FCGI_MPXS_CONNS', '1']]);
      c.send(getValues(['FCGI_MPXS_CONNS']));
      const m2 = await c.nextManagement();
      expect(m2.type).toBe(T.GET_VALUES_RESULT);
      expect(codec.decodeNameValues(m2.content)).toEqual([['FCGI_MPXS_CONNS', '1']]);
      c.send(getValues(['SOMETHING_ELSE']));
      const m3 = await c.nextManagement();
      expect(m3.type).toBe(T.GET_VALUES_RESULT);
      expect(m3.content.length).toBe(0);
      await expectServes(r, c);
    });

    it('GET_VALUES advertises FCGI_MPXS_CONNS 0 when maxRequestsPerConnection is 1', async () => {
      const r = await startRouted({ codec, maxRequestsPerConnection: 1 });
      const c = await r.client();
      c.send(getValues(['FCGI_MPXS_CONNS', 'FCGI_MAX_REQS', 'FCGI_MAX_CONNS']));
      const m = await c.nextManagement();
      expect(m.type).toBe(T.GET_VALUES_RESULT);
      expect(codec.decodeNameValues(m.content)).toEqual([['FCGI_MPXS_CONNS', '0'], ['FCGI_MAX_REQS', '1024'], ['FCGI_MAX_CONNS', '1024']]);
      await expectServes(r, c);
    });

    it.each([0, 12, 200])('a management record of type %i on id 0 gets UNKNOWN_TYPE; the connection goes on', async (type) => {
      const r = await startRouted({ codec });
      const c = await r.client();
      c.send(record(type, 0, 'abcdefgh', 0));
      const m = await c.nextManagement();
      expect(m.type).toBe(T.UNKNOWN_TYPE);
      expect(m.content.length).toBe(8);
      expect(m.content[0]).toBe(type);
      expect([...m.content.subarray(1)]).toEqual([0, 0, 0, 0, 0, 0, 0]);
      await expectServes(r, c);
    });
  });

  describe('refusals', () => {
    it.each([
      ['AUTHORIZER (not enabled)', ROLE.AUTHORIZER],
      ['FILTER (not enabled)', ROLE.FILTER],
      ['role 99', 99],
      ['role 0', 0],
    ])('UNKNOWN_ROLE: %s gets END_REQUEST protocolStatus 3; the rest of its records are ignored', async (_n, role) => {
      let ran = 0;
      const r = await startRouted({ codec }, { '/refused': (_q, s) => { ran++; s.end(); } });
      const c = await r.client();
      c.send(request(1, { uri: '/refused', role, body: 'xyz' }));
      const res = await c.response(1);
      expect(res.protocolStatus).toBe(PS.UNKNOWN_ROLE);
      expect(res.stdout.length).toBe(0);
      expect(res.events).toEqual(['end']);
      expect(ran).toBe(0);
      expect(r.server.activeRequests).toBe(0);
      await expectServes(r, c, 2);
    });

    it('UNKNOWN_ROLE without KEEP_CONN closes the connection after END_REQUEST', async () => {
      const r = await startRouted({ codec });
      const c = await r.client();
      c.send(begin(1, { role: ROLE.FILTER, keepConn: false }));
      expect((await c.response(1)).protocolStatus).toBe(PS.UNKNOWN_ROLE);
      await c.waitClosed();
      await expectServes(r);
    });

    it('CANT_MPX_CONN: a request beyond maxRequestsPerConnection is refused with protocolStatus 1', async () => {
      const release = deferred();
      const r = await startRouted({ codec, maxRequestsPerConnection: 2 }, {
        '/hold': async (_q, s) => { await release.promise; s.end('held'); },
      });
      const c = await r.client();
      c.send(request(1, { uri: '/hold' }), request(2, { uri: '/hold' }), request(3, { uri: '/hold' }));
      const refused = await c.response(3);
      expect(refused.protocolStatus).toBe(PS.CANT_MPX_CONN);
      expect(refused.stdout.length).toBe(0);
      release.resolve();
      for (const id of [1, 2]) {
        const res = await c.response(id);
        expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
        expect(parseCgi(res.stdout).body.toString()).toBe('held');
      }
      // The slots are free again: id 3 may be used now.
      await expectServes(r, c, 3);
    });

    it('OVERLOADED: a request beyond maxRequests across connections is refused with protocolStatus 2', async () => {
      const release = deferred();
      const r = await startRouted({ codec, maxRequests: 2 }, {
        '/hold': async (_q, s) => { await release.promise; s.end('held'); },
      });
      const a = await r.client(), b = await r.client();
      a.send(request(1, { uri: '/hold' }));
      b.send(request(1, { uri: '/hold' }));
      await until(() => r.server.activeRequests === 2, 2000, 'two requests in progress');
      const c = await r.client();
      c.send(request(7, { uri: '/hold' }));
      b.send(request(2, { uri: '/hold' }));
      expect((await c.response(7)).protocolStatus).toBe(PS.OVERLOADED);
      expect((await b.response(2)).protocolStatus).toBe(PS.OVERLOADED);
      release.resolve();
      expect((await a.response(1)).protocolStatus).toBe(PS.REQUEST_COMPLETE);
      expect((await b.response(1)).protocolStatus).toBe(PS.REQUEST_COMPLETE);
      await until(() => r.server.activeRequests === 0, 2000, 'no request in progress');
      await expectServes(r, c, 7);
    });
  });

  describe('ABORT_REQUEST', () => {
    it('aborts the handler (signal, aborted/close) and END_REQUEST comes back; other requests are unaffected', async () => {
      const events: string[] = [];
      const started = deferred();
      const release = deferred();
      const r = await startRouted({ codec }, {
        '/slow': (req, res) => {
          req.signal.addEventListener('abort', () => events.push('signal'));
          req.on('aborted', () => events.push('aborted'));
          req.on('close', () => events.push('close'));
          started.resolve();
          // Never answers by itself; no 'error' listener: an abort must not crash the process.
          void res;
        },
        '/other': async (req, res) => {
          await release.promise;
          const parts: Buffer[] = [];
          for await (const c of req) parts.push(c as Buffer);
          res.end(Buffer.concat(parts));
        },
      });
      const c = await r.client();
      c.send(begin(1), params(1, cgiParams('/slow', { CONTENT_LENGTH: '10' }, 'POST')), stdin(1, 'abc', false));
      c.send(request(2, { uri: '/other', body: 'the other body' }));
      await started.promise;
      c.send(record(T.ABORT_REQUEST, 1));
      const res1 = await c.response(1);
      expect(res1.protocolStatus).toBe(PS.REQUEST_COMPLETE);
      expect(res1.events.at(-1)).toBe('end');
      await until(() => events.includes('close'), 1000, "req 'close'");
      expect(events).toContain('signal');
      expect(events).toContain('aborted');
      // Records for the aborted id are ignored now.
      c.send(stdin(1, 'late bytes'));
      release.resolve();
      const res2 = await c.response(2);
      expect(parseCgi(res2.stdout).body.toString()).toBe('the other body');
      expect(r.server.activeRequests).toBe(0);
      await expectServes(r, c, 3);
    });

    it('an ABORT_REQUEST before the params end ends the request with END_REQUEST', async () => {
      let ran = 0;
      const r = await startRouted({ codec }, { '/x': (_q, s) => { ran++; s.end(); } });
      const c = await r.client();
      c.send(begin(1), params(1, cgiParams('/x'), false), record(T.ABORT_REQUEST, 1));
      const res = await c.response(1);
      expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
      expect(ran).toBe(0);
      expect(r.server.activeRequests).toBe(0);
      await expectServes(r, c, 1);
    });

    it('an ABORT_REQUEST for an id that is not active is ignored', async () => {
      const r = await startRouted({ codec });
      const c = await r.client();
      c.send(record(T.ABORT_REQUEST, 9));
      await expectServes(r, c, 1);
    });
  });

  describe('KEEP_CONN', () => {
    it('clear: the server closes the connection after END_REQUEST', async () => {
      const r = await startRouted({ codec });
      const c = await r.client();
      c.send(request(1, { body: 'once', keepConn: false }));
      const res = await c.response(1);
      expect(parseCgi(res.stdout).body.toString()).toBe('once');
      await c.waitClosed();
      await expectServes(r);
    });

    it('set: the connection stays open for further requests (the same id reused)', async () => {
      const r = await startRouted({ codec });
      const c = await r.client();
      for (let i = 0; i < 3; i++) {
        c.send(request(1, { body: `n${i}` }));
        expect(parseCgi((await c.response(1)).stdout).body.toString()).toBe(`n${i}`);
      }
      expect(await c.staysOpen(100)).toBe(true);
      await expectServes(r, c, 1);
    });
  });

  it('a closed connection aborts every request on it', async () => {
    const signals: AbortSignal[] = [];
    const r = await startRouted({ codec }, {
      '/hold': (req) => { signals.push(req.signal); },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/hold' }), request(2, { uri: '/hold' }));
    c.send(begin(3), params(3, cgiParams('/hold', { CONTENT_LENGTH: '100' }, 'POST')), stdin(3, 'part', false));
    await until(() => signals.length === 3, 2000, 'three handlers running');
    expect(signals.every((s) => !s.aborted)).toBe(true);
    c.destroy();
    await until(() => signals.every((s) => s.aborted), 2000, 'every request aborted');
    await until(() => r.server.activeRequests === 0, 2000, 'no request in progress');
    await expectServes(r);
  });
});

describe('KEEP_CONN clear beside other requests', () => {
  it('a request without KEEP_CONN does not cut a multiplexed request still in progress; the close comes after both', async () => {
    const release = deferred();
    const r = await startRouted({}, {
      '/slow': async (_q, res) => { await release.promise; res.end('slow'); },
      '/fast': (_q, res) => res.end('fast'),
    });
    const c = await r.client();
    c.send(request(1, { uri: '/slow' }));
    c.send(request(2, { uri: '/fast', keepConn: false }));
    expect(parseCgi((await c.response(2)).stdout).body.toString()).toBe('fast');
    expect(c.closed).toBe(false);
    release.resolve();
    expect(parseCgi((await c.response(1)).stdout).body.toString()).toBe('slow');
    await c.waitClosed(2000);
  });
});
