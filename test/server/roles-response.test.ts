/**
 * FastCGI roles (AUTHORIZER, FILTER), the shape of the CGI response (Status first, no HTTP/1.1 line, no
 * hop-by-hop headers, Location before Status, Set-Cookie kept, STDERR, record sizes, backpressure on
 * writes) and handler errors, raw socket.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { T, parseRecords, record } from '../helpers/fcgi.js';
import {
  PS, ROLE, begin, cgiParams, header, params, parseCgi, request, sleep, stdin, stream, until,
} from '../helpers/fcgi-client.js';
import { deferred, expectServes, startRouted, stopAll } from './setup.js';

afterEach(stopAll);

describe('AUTHORIZER role', () => {
  const authz = {
    '/grant': (_q: unknown, res: import('../../lib/index.js').CgiResponse) => {
      res.setHeader('Variable-USER', 'x');
      res.setHeader('Variable-GROUP', 'staff');
      res.end();
    },
    '/deny': (_q: unknown, res: import('../../lib/index.js').CgiResponse) => {
      res.statusCode = 403;
      res.setHeader('Content-Type', 'text/plain');
      res.end('go away');
    },
  };

  it('with no STDIN at all (Apache mod_authnz_fcgi), the handler runs after PARAMS end; 200 returns Variable-USER', async () => {
    let sawEnd = false;
    const r = await startRouted({ roles: ['authorizer'] }, {
      '/grant': (req, res) => {
        expect(req.role).toBe('authorizer');
        req.on('end', () => { sawEnd = true; });
        req.resume();
        authz['/grant'](req, res);
      },
    });
    const c = await r.client();
    c.send(begin(1, { role: ROLE.AUTHORIZER }), params(1, cgiParams('/grant')));
    const res = await c.response(1);
    expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    const a = parseCgi(res.stdout);
    expect(a.status).toBe(200);
    expect(a.headers).toContainEqual(['Variable-USER', 'x']);
    expect(a.headers).toContainEqual(['Variable-GROUP', 'staff']);
    await until(() => sawEnd, 1000, "the request body 'end'");
  });

  it('a 403 deny returns its status and body', async () => {
    const r = await startRouted({ roles: ['authorizer'] }, authz);
    const c = await r.client();
    c.send(begin(1, { role: ROLE.AUTHORIZER }), params(1, cgiParams('/deny')));
    const a = parseCgi((await c.response(1)).stdout);
    expect(a.status).toBe(403);
    expect(a.body.toString()).toBe('go away');
    // A STDIN that does come (some front ends send the empty record) is harmless.
    c.send(begin(2, { role: ROLE.AUTHORIZER }), params(2, cgiParams('/deny')), stdin(2, ''));
    expect(parseCgi((await c.response(2)).stdout).status).toBe(403);
  });

  it('roles [authorizer] refuses a RESPONDER with UNKNOWN_ROLE', async () => {
    const r = await startRouted({ roles: ['authorizer'] }, authz);
    const c = await r.client();
    c.send(request(1, { uri: '/grant' }));
    expect((await c.response(1)).protocolStatus).toBe(PS.UNKNOWN_ROLE);
  });
});

describe('STDOUT records', () => {
  it('writes that encode to no bytes (an empty base64 or hex string) send no record: an empty STDOUT ends the stream', async () => {
    const r = await startRouted({}, {
      '/w': (_req, res) => { res.write('first,'); res.write('==', 'base64'); res.write('z', 'hex'); res.end('last'); },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/w' }));
    await c.response(1);
    const out = parseRecords(Buffer.concat(c.received)).records.filter((x) => x.type === T.STDOUT);
    // Only the last STDOUT record is empty.
    expect(out.slice(0, -1).every((x) => x.content.length > 0)).toBe(true);
    expect(out[out.length - 1].content.length).toBe(0);
  });
});

describe('FILTER role', () => {
  it('STDIN then DATA: req.data gives the DATA bytes; dataLength and dataLastModified from the params', async () => {
    const seen: { body?: string; data?: Buffer; dataLength?: number; lastMod?: number; role?: string } = {};
    const r = await startRouted({ roles: ['filter'] }, {
      '/f': async (req, res) => {
        seen.role = req.role;
        seen.dataLength = req.dataLength;
        seen.lastMod = req.dataLastModified;
        const body: Buffer[] = [];
        for await (const ch of req) body.push(ch as Buffer);
        seen.body = Buffer.concat(body).toString();
        const data: Buffer[] = [];
        for await (const ch of req.data!) data.push(ch as Buffer);
        seen.data = Buffer.concat(data);
        res.setHeader('Content-Type', 'text/plain');
        res.end(seen.data.toString('latin1').toUpperCase());
      },
    });
    const c = await r.client();
    const file = Buffer.from('the file to filter, '.repeat(5000), 'latin1'); // 100000 bytes: several records
    c.send(begin(1, { role: ROLE.FILTER }),
      params(1, cgiParams('/f', { CONTENT_LENGTH: '4', FCGI_DATA_LENGTH: String(file.length), FCGI_DATA_LAST_MOD: '1700000000' }, 'POST')),
      stdin(1, 'form'));
    await sleep(10);
    c.send(stream(T.DATA, 1, file, true, 30000));
    const res = await c.response(1);
    expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    expect(seen.role).toBe('filter');
    expect(seen.body).toBe('form');
    expect(seen.data!.equals(file)).toBe(true);
    expect(seen.dataLength).toBe(file.length);
    expect(seen.lastMod).toBe(1700000000);
    expect(parseCgi(res.stdout).body.toString('latin1')).toBe(file.toString('latin1').toUpperCase());
  });
  it('DATA before the end of STDIN, or past FCGI_DATA_LENGTH, closes the connection (DATA follows STDIN)', async () => {
    let got: string | undefined;
    const r = await startRouted({ roles: ['filter'] }, {
      '/f': (req, res) => {
        const parts: Buffer[] = [];
        req.resume();
        req.data!.on('data', (d: Buffer) => parts.push(d));
        req.data!.on('end', () => { got = Buffer.concat(parts).toString(); res.end(); });
      },
    });
    const early = await r.client();
    early.send(begin(1, { role: ROLE.FILTER }), params(1, cgiParams('/f', { CONTENT_LENGTH: '0', FCGI_DATA_LENGTH: '10' }, 'POST')),
      stream(T.DATA, 1, 'hello', false), stdin(1, ''), stream(T.DATA, 1, 'world', true));
    await early.waitClosed();
    const long = await r.client();
    long.send(begin(1, { role: ROLE.FILTER }), params(1, cgiParams('/f', { CONTENT_LENGTH: '0', FCGI_DATA_LENGTH: '3' }, 'POST')),
      stdin(1, ''), stream(T.DATA, 1, 'hello', true));
    await long.waitClosed();
    expect(got).toBeUndefined();
    expect(r.server.activeRequests).toBe(0);
  });

  it('an unread DATA stream is bounded by bodyBufferBytes like the body (the connection stops reading)', async () => {
    const release = deferred();
    let data: import('node:stream').Readable | undefined;
    let maxHeld = 0;
    const r = await startRouted({ roles: ['filter'], bodyBufferBytes: 32768 }, {
      '/f': async (req, res) => {
        data = req.data;
        req.resume();
        await release.promise;
        let n = 0;
        for await (const ch of req.data!) n += (ch as Buffer).length;
        res.end(String(n));
      },
    });
    const c = await r.client();
    const file = Buffer.alloc(4 * 1024 * 1024, 'd');
    c.send(begin(1, { role: ROLE.FILTER }),
      params(1, cgiParams('/f', { CONTENT_LENGTH: '0', FCGI_DATA_LENGTH: String(file.length), FCGI_DATA_LAST_MOD: '0' }, 'POST')),
      stdin(1, ''), stream(T.DATA, 1, file, true, 65535));
    await until(() => data !== undefined, 2000, 'handler running');
    for (let i = 0; i < 30; i++) { maxHeld = Math.max(maxHeld, data!.readableLength); await sleep(10); }
    release.resolve();
    expect(parseCgi((await c.response(1, 5000)).stdout).body.toString()).toBe(String(file.length));
    expect(maxHeld).toBeLessThanOrEqual(32768 + 64 * 1024);
  });
});

describe('response shape', () => {
  it('STDOUT starts with a Status line; no HTTP/1.1 line and no Connection/Keep-Alive/Transfer-Encoding headers', async () => {
    const r = await startRouted({}, {
      '/plain': (_q, res) => {
        res.setHeader('Content-Type', 'text/plain');
        res.setHeader('Connection', 'keep-alive');
        res.setHeader('Keep-Alive', 'timeout=5');
        res.write('streamed ');
        res.end('body');
      },
      '/chunked': (_q, res) => {
        res.setHeader('Transfer-Encoding', 'chunked');
        res.write('one ');
        res.write('two');
        res.end();
      },
      '/missing': (_q, res) => { res.writeHead(404, 'Not Here', { 'Content-Type': 'text/plain' }); res.end('nope'); },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/plain' }), request(2, { uri: '/chunked' }), request(3, { uri: '/missing' }));
    const [r1, r2, r3] = await Promise.all([c.response(1), c.response(2), c.response(3)]);
    for (const res of [r1, r2, r3]) {
      const text = res.stdout.toString('latin1');
      expect(text.startsWith('Status: ')).toBe(true);
      expect(text).not.toMatch(/^HTTP\//m);
      const a = parseCgi(res.stdout);
      for (const h of ['connection', 'keep-alive', 'transfer-encoding']) {
        expect(a.headers.map(([n]) => n.toLowerCase())).not.toContain(h);
      }
    }
    expect(parseCgi(r1.stdout).status).toBe(200);
    expect(parseCgi(r1.stdout).body.toString()).toBe('streamed body');
    expect(parseCgi(r2.stdout).body.toString()).toBe('one two');
    expect(header(parseCgi(r3.stdout), 'Status')).toBe('404 Not Here');
    expect(parseCgi(r3.stdout).body.toString()).toBe('nope');
  });

  it('a 301 puts Location before Status; repeated Set-Cookie headers are kept', async () => {
    const r = await startRouted({}, {
      '/moved': (_q, res) => {
        res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; HttpOnly']);
        res.writeHead(301, { Location: 'https://example.com/new' });
        res.end();
      },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/moved' }));
    const a = parseCgi((await c.response(1)).stdout);
    const names = a.headers.map(([n]) => n.toLowerCase());
    expect(names.indexOf('location')).toBeGreaterThanOrEqual(0);
    expect(names.indexOf('location')).toBeLessThan(names.indexOf('status'));
    expect(a.status).toBe(301);
    expect(header(a, 'Location')).toBe('https://example.com/new');
    expect(a.headers.filter(([n]) => n.toLowerCase() === 'set-cookie').map(([, v]) => v)).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
  });

  it('hop-by-hop headers anywhere in the block are dropped, names of the same lengths are kept, each line whole', async () => {
    const r = await startRouted({}, {
      '/mixed': (_q, res) => {
        res.setHeader('Connection', 'close'); // first line dropped
        res.setHeader('X-A', '1');
        res.setHeader('X-Long-Name-Here', 'same length as proxy-connection');
        res.setHeader('TE', 'trailers');
        res.setHeader('X-Keep-Ali', 'same length as keep-alive');
        res.setHeader('Location', '/there');
        res.setHeader('KEEP-ALIVE', 'timeout=1');
        res.setHeader('Proxy-Connection', 'keep-alive');
        res.setHeader('X-Trailer', 'kept');
        res.setHeader('Status', '200 Handler Says'); // res.statusCode decides
        res.setHeader('Upgrade', 'websocket');
        res.setHeader('Content-Length', '4');
        res.writeHead(302);
        res.end('body');
      },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/mixed' }));
    const stdout = (await c.response(1)).stdout.toString('latin1');
    const head = stdout.slice(0, stdout.indexOf('\r\n\r\n'));
    expect(stdout.slice(head.length)).toBe('\r\n\r\nbody');
    const lines = head.split('\r\n');
    expect(lines.slice(0, 2)).toEqual(['Location: /there', 'Status: 302 Found']);
    expect(lines.filter((l) => l.startsWith('X-') || l.startsWith('Content-Length'))).toEqual([
      'X-A: 1', 'X-Long-Name-Here: same length as proxy-connection', 'X-Keep-Ali: same length as keep-alive',
      'X-Trailer: kept', 'Content-Length: 4']);
    for (const l of lines) expect(l).toMatch(/^[A-Za-z-]+: /);
    expect(lines.map((l) => l.slice(0, l.indexOf(':')).toLowerCase()).filter((n) =>
      ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'proxy-connection', 'upgrade'].includes(n))).toEqual([]);
    expect(lines.filter((l) => l.toLowerCase().startsWith('status:'))).toEqual(['Status: 302 Found']);
  });

  it('res.stderr writes produce STDERR records, and an empty STDERR record comes before END_REQUEST', async () => {
    const r = await startRouted({}, {
      '/log': (_q, res) => {
        res.stderr.write('first line\n');
        res.stderr.write(Buffer.from('second line\n'));
        res.end('logged');
      },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/log' }), request(2, { uri: '/after' }));
    const res = await c.response(1);
    expect(res.stderr.toString()).toBe('first line\nsecond line\n');
    expect(res.stderrEnded).toBe(true);
    expect(res.stdoutEnded).toBe(true);
    expect(res.events.indexOf('err-end')).toBeLessThan(res.events.indexOf('end'));
    expect(res.events.lastIndexOf('err')).toBeLessThan(res.events.indexOf('err-end'));
    expect(res.events.at(-1)).toBe('end');
    expect(parseCgi(res.stdout).body.toString()).toBe('logged');
    // A response without STDERR has no STDERR record at all.
    expect((await c.response(2)).events).not.toContain('err-end');
  });

  it('a large response is split in STDOUT records of at most 65528 bytes', async () => {
    const big = Buffer.alloc(1_000_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
    const r = await startRouted({}, {
      '/big': (_q, res) => { res.setHeader('Content-Length', big.length); res.write(big.subarray(0, 100)); res.end(big.subarray(100)); },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/big' }));
    const res = await c.response(1, 5000);
    expect(parseCgi(res.stdout).body.equals(big)).toBe(true);
    const parsed = parseRecords(c.allReceived());
    expect(parsed.error).toBeNull();
    expect(parsed.rest).toBe(0);
    const out = parsed.records.filter((x) => x.type === T.STDOUT);
    expect(out.length).toBeGreaterThanOrEqual(Math.ceil(big.length / 65528));
    for (const rec of out) {
      expect(rec.content.length).toBeLessThanOrEqual(65528);
      expect((rec.content.length + rec.padding) % 8).toBe(0);
    }
    expect(out.at(-1)!.content.length).toBe(0);
  });

  it("write() returns false and 'drain' comes under backpressure: a client not reading stalls the writer, bounded", async () => {
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = i & 0xff;
    const MAX = 32 * 1024 * 1024;
    const log = { written: 0, falses: 0, drains: 0, waiting: false, lastWrite: Date.now() };
    let serverSocket: import('node:net').Socket | undefined;
    const r = await startRouted({}, {
      '/flood': async (_q, res) => {
        res.setHeader('Content-Type', 'application/octet-stream');
        while (log.written < MAX) {
          log.written += chunk.length;
          log.lastWrite = Date.now();
          if (!res.write(chunk)) {
            log.falses++;
            log.waiting = true;
            await new Promise<void>((resolve) => res.once('drain', () => resolve()));
            log.waiting = false;
            log.drains++;
          }
        }
        res.end('END');
      },
    });
    r.server.on('connection', (s: import('node:net').Socket) => { serverSocket = s; });
    const c = await r.client();
    c.socket.pause();
    c.send(request(1, { uri: '/flood' }));
    // The writer stalls: waiting for 'drain' that does not come while the client reads nothing.
    await until(() => log.waiting && Date.now() - log.lastWrite > 300, 5000, 'the writer to stall');
    expect(log.falses).toBeGreaterThan(0);
    expect(log.written).toBeLessThan(MAX);
    expect(serverSocket!.writableLength).toBeLessThanOrEqual(256 * 1024);
    const stalledAt = log.written;
    c.socket.resume();
    await until(() => log.drains > 0, 2000, "'drain' on res once the client reads");
    const res = await c.response(1, 10_000);
    expect(log.drains).toBeGreaterThan(0);
    expect(log.written).toBeGreaterThan(stalledAt);
    const body = parseCgi(res.stdout).body;
    expect(body.length).toBe(MAX + 3);
    for (let at = 0; at < MAX; at += 8 * 1024 * 1024) expect(body.subarray(at, at + chunk.length).equals(chunk)).toBe(true);
    expect(body.subarray(-3).toString()).toBe('END');
  });
});

describe('handler errors', () => {
  it('a handler that throws gives 500 and the server goes on', async () => {
    const r = await startRouted({}, { '/throw': () => { throw new Error('boom'); } });
    const c = await r.client();
    c.send(request(1, { uri: '/throw' }));
    const res = await c.response(1);
    expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    expect(parseCgi(res.stdout).status).toBe(500);
    expect(r.handlerErrors).toHaveLength(1);
    expect((r.handlerErrors[0] as Error).message).toBe('boom');
    await expectServes(r, c, 2);
  });

  it('an async handler that rejects gives 500 and the server goes on', async () => {
    const r = await startRouted({}, { '/reject': async () => { await sleep(5); throw new Error('later boom'); } });
    const c = await r.client();
    c.send(request(1, { uri: '/reject' }));
    expect(parseCgi((await c.response(1)).stdout).status).toBe(500);
    expect((r.handlerErrors[0] as Error).message).toBe('later boom');
    await expectServes(r, c, 2);
  });

  it('a handler that throws after sending headers has its response cut: no END_REQUEST, the connection closes', async () => {
    // END_REQUEST would tell the web server the response is complete, whatever appStatus says: a cut response
    // must end with the connection instead, so that the web server reports it (nginx: "upstream prematurely closed").
    const r = await startRouted({}, {
      '/half': async (_q, res) => { res.writeHead(200); res.write('partial'); await sleep(5); throw new Error('mid-body'); },
    });
    const c = await r.client();
    c.send(request(1, { uri: '/half' }));
    await c.waitClosed();
    expect(c.partial(1)?.stdout.toString()).toContain('partial');
    expect(c.partial(1)?.events).not.toContain('end');
    expect((r.handlerErrors[0] as Error).message).toBe('mid-body');
    await expectServes(r);
  });

  it('a cut response on a connection that carries other requests ends with appStatus 1; the others go on', async () => {
    const r = await startRouted({}, {
      '/half': async (_q, res) => { res.writeHead(200); res.write('partial'); await sleep(5); throw new Error('mid-body'); },
      '/slow': async (_q, res) => { await sleep(40); res.end('slow done'); },
    });
    const c = await r.client();
    c.send(request(2, { uri: '/slow' }), request(1, { uri: '/half' }));
    const cut = await c.response(1);
    expect(cut.appStatus).toBe(1);
    const slow = await c.response(2);
    expect([slow.appStatus, parseCgi(slow.stdout).body.toString()]).toEqual([0, 'slow done']);
    await expectServes(r, c, 3);
  });

  it('res.destroy() before the end cuts the response the same way', async () => {
    const r = await startRouted({}, { '/destroy': (_q, res) => { res.write('some'); setTimeout(() => res.destroy(), 5); } });
    const c = await r.client();
    c.send(request(1, { uri: '/destroy' }));
    await c.waitClosed();
    expect(c.partial(1)?.events).not.toContain('end');
    await expectServes(r);
  });

  it('records for an unknown id (no BEGIN_REQUEST) are ignored', async () => {
    const r = await startRouted({});
    const c = await r.client();
    c.send(params(5, cgiParams('/x')), stdin(5, 'stray'), record(T.DATA, 5, 'x'));
    await expectServes(r, c, 1);
  });
});
