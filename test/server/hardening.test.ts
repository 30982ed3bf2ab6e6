/**
 * What a misbehaving or merely unusual peer or handler must not do to the server: hold memory beyond the
 * limits through retained chunks, pile up answers it does not read, stall a connection behind a request whose
 * body has ended, pass a cut response off as complete, or crash on bytes node:http accepts.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { record } from '../helpers/fcgi.js';
import { begin, cgiParams, params, parseCgi, request, sleep, stdin, until } from '../helpers/fcgi-client.js';
import { start, stopAll } from './setup.js';

afterEach(stopAll);

/** A raw record of `type` for `id` with `content` (no padding). */
function raw(type: number, id: number, content: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 1; h[1] = type; h.writeUInt16BE(id, 2); h.writeUInt16BE(content.length, 4);
  return Buffer.concat([h, content]);
}

describe('retained chunks', () => {
  /** A server whose handler keeps every body piece it is handed, as handed, and answers at the body's end. */
  async function keepingPieces(): Promise<{ r: Awaited<ReturnType<typeof start>>; pieces: Buffer[] }> {
    const pieces: Buffer[] = [];
    const r = await start({}, (req, res) => {
      req.on('data', (c: Buffer) => pieces.push(c));
      req.on('end', () => res.end('ok'));
    });
    return { r, pieces };
  }

  it('a small body piece from a large chunk is a copy, not a view that keeps the chunk alive', async () => {
    const { r, pieces } = await keepingPieces();
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/', { CONTENT_LENGTH: '4' }, 'POST')));
    // Each chunk: one body byte for request 1, then 60 KB of STDIN for an id that is not active (ignored).
    const filler = raw(5, 99, Buffer.alloc(60000, 0x41));
    for (let i = 0; i < 4; i++) {
      c.send(Buffer.concat([raw(5, 1, Buffer.from([i])), filler]));
      await sleep(5);
    }
    c.send(stdin(1, '', true));
    await c.response(1);
    expect(Buffer.concat(pieces)).toEqual(Buffer.from([0, 1, 2, 3]));
    for (const p of pieces) expect(p.buffer.byteLength).toBeLessThan(60000);
  });

  it('a chunk that is all body of one request hands even its small pieces on as views (no copy per record edge)', async () => {
    const { r, pieces } = await keepingPieces();
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/', { CONTENT_LENGTH: '60000' }, 'POST')));
    await sleep(20);
    // Records of 20000, 30000 and 10000 bytes; the middle chunk holds the last 5000 bytes of the first, all of
    // the second and 2000 bytes of the third: as nginx's body records fall across socket reads.
    const stream = Buffer.concat([raw(5, 1, Buffer.alloc(20000, 1)), raw(5, 1, Buffer.alloc(30000, 2)), raw(5, 1, Buffer.alloc(10000, 3))]);
    const from = 8 + 15000;
    const to = 8 + 20000 + 8 + 30000 + 8 + 2000;
    c.send(stream.subarray(0, from));
    await sleep(20);
    c.send(stream.subarray(from, to));
    await sleep(20);
    c.send(stream.subarray(to), stdin(1, '', true));
    await c.response(1);
    expect(pieces.reduce((n, p) => n + p.length, 0)).toBe(60000);
    const small = pieces.filter((p) => p.length === 5000 || p.length === 2000);
    expect(small).toHaveLength(2);
    for (const p of small) expect(p.buffer.byteLength).toBeGreaterThan(30000);
  });

  it('a large body piece is still handed on as a view of its chunk (zero-copy)', async () => {
    const { r, pieces } = await keepingPieces();
    const c = await r.client();
    const body = Buffer.alloc(40000, 7);
    c.send(request(1, { uri: '/', method: 'POST', body }));
    await c.response(1);
    expect(Buffer.concat(pieces)).toEqual(body);
    expect(pieces.some((p) => p.byteOffset > 0 && p.buffer.byteLength > p.length)).toBe(true);
  });
});

describe('output the web server does not read', () => {
  it('the connection stops reading while its answers are not taken', async () => {
    const r = await start({}, (_q, s) => s.end());
    let serverSide: Socket | undefined;
    r.server.on('connection', (s: Socket) => { serverSide = s; });
    const c = await r.client();
    c.socket.pause(); // the peer stops reading
    const block = Buffer.concat(Array.from({ length: 8192 }, () => record(12, 0))); // unknown management type
    for (let i = 0; i < 64; i++) { // 4 MiB of records asking for 8 MiB of answers
      c.socket.write(block);
      if (i % 16 === 15) await sleep(1);
    }
    await sleep(500);
    expect(serverSide!.writableLength).toBeLessThan(1024 * 1024);
    c.socket.resume(); // reading again: the answers flow and the server reads on
    await until(() => c.receivedBytes >= 64 * 8192 * 16, 10000, 'every UNKNOWN_TYPE answer');
  });
});

describe('a body that has ended', () => {
  it('does not keep the connection paused while its handler works on', async () => {
    const r = await start({ bodyBufferBytes: 16384 }, async (req, res) => {
      if (req.url === '/upload') {
        let n = 0;
        for await (const chunk of req) n += (chunk as Buffer).length;
        await sleep(1500);
        res.end(`got ${n}`);
      } else res.end('quick');
    });
    const c = await r.client();
    const t0 = Date.now();
    c.send(request(1, { uri: '/upload', method: 'POST', body: Buffer.alloc(40000, 1) })); // STDIN and its end in one write
    await sleep(100);
    c.send(request(2, { uri: '/quick' }));
    expect(parseCgi((await c.response(2, 3000)).stdout).body.toString()).toBe('quick');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(parseCgi((await c.response(1, 3000)).stdout).body.toString()).toBe('got 40000');
  });
});

describe('maxBodyBytes crossed after the response started', () => {
  it('the cut response does not end with END_REQUEST (it would look complete)', async () => {
    const r = await start({ maxBodyBytes: 1000 }, (req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '100' });
      res.write('first half\n');
      req.on('data', () => {});
      req.on('end', () => res.end('second half\n'));
    });
    const c = await r.client();
    c.send(begin(1), params(1, cgiParams('/', { CONTENT_LENGTH: '5000' }, 'POST')));
    await until(() => (c.partial(1)?.stdout.length ?? 0) > 0, 2000, 'the first half');
    c.send(stdin(1, Buffer.alloc(5000, 1), true));
    await expect(c.response(1, 2000)).rejects.toThrow(/closed before END_REQUEST/);
    expect(r.protocolErrors.map((e) => (e as { code?: string }).code)).toContain('ERR_BODY_TOO_LARGE');
  });
});

describe('node:http compatibility', () => {
  it('res.write and res.end take a Uint8Array, small or large', async () => {
    const r = await start({}, (_q, s) => {
      s.write('a');
      s.write(new Uint8Array(10).fill(98));
      s.end(new Uint8Array(3000).fill(99));
    });
    const c = await r.client();
    c.send(request(1));
    const body = parseCgi((await c.response(1)).stdout).body.toString();
    expect(body).toBe('a' + 'b'.repeat(10) + 'c'.repeat(3000));
    expect(r.handlerErrors).toEqual([]);
  });
});

describe('req.setTimeout and res.setTimeout (node:http: the socket times out after ms without activity)', () => {
  it("res.setTimeout(ms, cb): cb runs after ms and may answer (the usual '503 when the work stalls')", async () => {
    const r = await start({}, (_req, res) => {
      res.setTimeout(100, () => { res.statusCode = 503; res.end('timed out'); });
      // ...work that never finishes
    });
    const c = await r.client();
    c.send(request(1));
    const a = parseCgi((await c.response(1, 2000)).stdout);
    expect(a.status).toBe(503);
    expect(a.body.toString()).toBe('timed out');
  });

  it('writes keep it from firing; setTimeout(0) turns it off', async () => {
    let fired = 0;
    const r = await start({}, async (req, res) => {
      req.setTimeout(120, () => { fired++; });
      for (let i = 0; i < 6; i++) { res.write(`${i}`); await sleep(40); }
      req.setTimeout(0);
      await sleep(200);
      res.end('.');
    });
    const c = await r.client();
    c.send(request(1));
    expect(parseCgi((await c.response(1, 3000)).stdout).body.toString()).toBe('012345.');
    expect(fired).toBe(0);
  });

  it('a timeout nobody listens for cuts the response, as node:http destroys the socket', async () => {
    const r = await start({}, (req, res) => {
      res.write('partial');
      req.socket.setTimeout(100);
    });
    const c = await r.client();
    c.send(request(1));
    await expect(c.response(1, 2000)).rejects.toThrow(/closed before END_REQUEST/);
  });
});

describe('paramsTimeout (node:http: headersTimeout)', () => {
  it('a FastCGI request whose params never end gets 408 and frees its slot', async () => {
    const r = await start({ paramsTimeout: 200, maxRequests: 2 }, (_q, s) => s.end('ok'));
    const stalled = [await r.client(), await r.client()];
    for (const c of stalled) c.send(begin(1), params(1, cgiParams('/'), false)); // PARAMS never closed
    const answers = await Promise.all(stalled.map((c) => c.response(1, 2000)));
    for (const a of answers) expect(parseCgi(a.stdout).status).toBe(408);
    expect(r.protocolErrors.map((e) => (e as { code?: string }).code)).toEqual(['ERR_PARAMS_TIMEOUT', 'ERR_PARAMS_TIMEOUT']);
    expect(r.server.activeRequests).toBe(0);
    const c = await r.client();
    c.send(request(1));
    expect(parseCgi((await c.response(1)).stdout).body.toString()).toBe('ok');
  });

  it('a FastCGI request whose params end in time is not affected', async () => {
    const r = await start({ paramsTimeout: 300 }, async (_q, s) => { await sleep(400); s.end('slow but fine'); });
    const c = await r.client();
    c.send(begin(1));
    await sleep(150);
    c.send(params(1, cgiParams('/')), stdin(1, '', true));
    expect(parseCgi((await c.response(1, 2000)).stdout).body.toString()).toBe('slow but fine');
  });

  it('an SCGI header sent a byte at a time, slower than paramsTimeout in all, gets 408 and the close', async () => {
    const r = await start({ protocol: 'scgi', paramsTimeout: 300, idleTimeout: 10000 }, (_q, s) => s.end('ok'));
    const socket = (await import('node:net')).connect(r.port, '127.0.0.1');
    const got: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => got.push(chunk));
    socket.on('error', () => { /* closed by the server */ });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    const header = Buffer.from('70:CONTENT_LENGTH\0' + '0\0SCGI\0' + '1\0REQUEST_METHOD\0GET\0REQUEST_URI\0/\0');
    for (let i = 0; i < 8 && !socket.destroyed; i++) { socket.write(header.subarray(i, i + 1)); await sleep(60); }
    await closed;
    expect(Buffer.concat(got).toString('latin1')).toMatch(/^Status: 408 /);
  });
});

describe('a response that ends before the request body has all come', () => {
  it("the request then ends too: 'close' for a handler reading it, and for one that is not", async () => {
    const events: string[][] = [[], []];
    const r = await start({}, (req, res) => {
      const mine = events[req.url === '/reading' ? 0 : 1];
      if (req.url === '/reading') req.on('data', () => { /* reads */ });
      req.on('end', () => mine.push('end'));
      req.on('close', () => mine.push('close'));
      req.on('error', () => mine.push('error'));
      res.statusCode = 401; // answered before the upload is read, as many handlers do
      res.end('no');
    });
    for (const uri of ['/reading', '/not-reading']) {
      const c = await r.client();
      c.send(begin(1), params(1, cgiParams(uri, { CONTENT_LENGTH: '20000' }, 'POST')), stdin(1, Buffer.alloc(10000, 1), false));
      expect(parseCgi((await c.response(1)).stdout).status).toBe(401);
    }
    await until(() => events.every((e) => e.includes('close')), 2000, "'close' on both requests");
    expect(events.map((e) => e.includes('error'))).toEqual([false, false]);
  });
});

describe('after a protocol fault', () => {
  it('the rest of the chunk is not acted on: no handler runs for a request on a connection being closed', async () => {
    const seen: string[] = [];
    const r = await start({}, (req, res) => { seen.push(req.url!); res.end('ok'); });
    const c = await r.client();
    // A duplicate BEGIN_REQUEST (a protocol error: the connection is closed), then a whole request, in one write.
    c.send(begin(1), begin(1), request(2, { uri: '/after-the-fault' }));
    await c.waitClosed(2000);
    await sleep(50);
    expect(seen).toEqual([]);
    expect(r.protocolErrors.map((e) => (e as { code?: string }).code)).toEqual(['ERR_FASTCGI_DUPLICATE_REQUEST']);
  });
});
