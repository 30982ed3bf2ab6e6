/**
 * The FastCGI and SCGI clients against a cgiwire application server (which multiplexes) and hand-made peers:
 * requests and bodies both ways, multiplexing and pooling, abort and timeouts, limits, lost connections,
 * restarts, balancing, roles. Every test runs on both codecs.
 */
import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import {
  Client, ScgiClient, ClientError, createCodec, createServer, encodeGetValuesResult, type CgiRequest, type CgiResponse, type Codec,
  type Server, type ServerOptions, allow,
} from '../../lib/index.js';
import { stopAfterEach } from './started.js';
import { fakeFastCgi, type FakePeer, type FakeRequest } from './fake-peer.js';
import { sleep, until, withTimeout } from '../helpers/fcgi-client.js';

const { servers, clients, peers } = stopAfterEach();

type Handler = (req: CgiRequest, res: CgiResponse) => unknown;

async function serve(options: ServerOptions & { codec?: Codec }, handler: Handler, port = 0): Promise<{ server: Server; port: number; connections: number[] }> {
  const server = createServer(options, handler);
  const connections: number[] = [];
  server.on('connection', () => connections.push(Date.now()));
  servers.push(server);
  await withTimeout(new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  }), 2000, 'listen');
  return { server, port: (server.address() as AddressInfo).port, connections };
}

/** Echoes the method, url and a digest of the body it read. */
const echo: Handler = (req, res) => {
  const hash = createHash('sha256');
  let n = 0;
  req.on('data', (c: Buffer) => { hash.update(c); n += c.length; });
  req.on('end', () => {
    res.setHeader('X-Length', String(n));
    res.end(`${req.method} ${req.url} ${n} ${hash.digest('hex')}`);
  });
};

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const GET = (uri: string): Record<string, string> => ({ REQUEST_METHOD: 'GET', REQUEST_URI: uri, SERVER_PROTOCOL: 'HTTP/1.1' });
const POST = (uri: string): Record<string, string> => ({ REQUEST_METHOD: 'POST', REQUEST_URI: uri, SERVER_PROTOCOL: 'HTTP/1.1' });

for (const codecName of ['native', 'js'] as const) {
  const codec = createCodec(codecName);
  const newClient = (options: ConstructorParameters<typeof Client>[0]): Client => {
    const c = new Client({ codec, ...options });
    clients.push(c);
    return c;
  };

  describe(`FastCGI client (${codecName} codec)`, () => {
    it('sends a GET and reads status, headers and body', async () => {
      const { port } = await serve({ codec }, (req, res) => {
        res.statusCode = 201;
        res.statusMessage = 'Made';
        res.setHeader('Set-Cookie', ['a=1', 'b=2']);
        res.setHeader('X-Url', req.url ?? '');
        res.end('hello');
      });
      const client = newClient({ address: `127.0.0.1:${port}` });
      const r = await client.request({ params: GET('/path?q=1') });
      expect(r.status).toBe(201);
      expect(r.statusText).toBe('Made');
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(r.headers['x-url']).toBe('/path?q=1');
      expect(r.rawHeaders).toContain('X-Url');
      expect(await r.text()).toBe('hello');
      expect(r.appStatus).toBe(0);
    });

    it('sends bodies given as a Buffer, a string and a Readable, byte-exact', async () => {
      const { port } = await serve({ codec }, echo);
      const client = newClient({ address: port });
      const bytes = randomBytes(300_000);
      const a = await (await client.request({ params: POST('/b'), body: bytes })).text();
      expect(a).toBe(`POST /b 300000 ${sha(bytes)}`);
      const b = await (await client.request({ params: POST('/s'), body: 'héllo' })).text();
      expect(b).toBe(`POST /s 6 ${sha(Buffer.from('héllo'))}`);
      const big = randomBytes(1 << 20);
      const stream = Readable.from((function* () { for (let i = 0; i < big.length; i += 10_000) yield big.subarray(i, i + 10_000); })());
      const c = await (await client.request({ params: { ...POST('/r'), CONTENT_LENGTH: String(big.length) }, body: stream })).text();
      expect(c).toBe(`POST /r ${big.length} ${sha(big)}`);
    });

    it('adds CONTENT_LENGTH for a body of known length, and keeps one the caller gave', async () => {
      const seen: (string | undefined)[] = [];
      const { port } = await serve({ codec }, (req, res) => { seen.push(req.cgi.get('CONTENT_LENGTH')); req.resume(); req.on('end', () => res.end()); });
      const client = newClient({ address: port });
      await (await client.request({ params: POST('/'), body: Buffer.alloc(10) })).buffer();
      await (await client.request({ params: { ...POST('/'), CONTENT_LENGTH: '10' }, body: Buffer.alloc(10) })).buffer();
      await (await client.request({ params: GET('/') })).buffer();
      expect(seen).toEqual(['10', '10', undefined]);
    });

    it('multiplexes 100 concurrent requests over one connection, one of them aborted', async () => {
      let aborted = 0;
      const { port, connections } = await serve({ codec }, (req, res) => {
        if (req.url === '/slow') {
          req.on('close', () => { if (!res.writableFinished) aborted++; });
          return; // never answers: only the abort ends it
        }
        setTimeout(() => res.end(`r${req.url}`), Math.floor(Math.random() * 20));
      });
      const client = newClient({ address: port });
      const ac = new AbortController();
      const slow = client.request({ params: GET('/slow'), signal: ac.signal });
      const others = Array.from({ length: 99 }, (_, i) => client.request({ params: GET(`/${i}`) }).then((r) => r.text()));
      setTimeout(() => ac.abort(), 50);
      await expect(slow).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
      const bodies = await Promise.all(others);
      expect(bodies).toEqual(Array.from({ length: 99 }, (_, i) => `r/${i}`));
      expect(connections.length).toBe(1);
      await until(() => aborted === 1, 2000, 'the server saw the ABORT_REQUEST');
      // The connection is still good after the abort.
      expect(await (await client.request({ params: GET('/after') })).text()).toBe('r/after');
      expect(connections.length).toBe(1);
    });

    it('learns multiplexing from GET_VALUES, and getValues() reports what the server advertises', async () => {
      const { port } = await serve({ codec, maxRequests: 77 }, (_req, res) => res.end());
      const client = newClient({ address: port });
      expect(await client.getValues()).toEqual({ FCGI_MAX_CONNS: '1024', FCGI_MAX_REQS: '77', FCGI_MPXS_CONNS: '1' });
      expect(await client.getValues(['FCGI_MPXS_CONNS'])).toEqual({ FCGI_MPXS_CONNS: '1' });
    });

    it('without multiplexing runs one request per connection, up to maxConnectionsPerAddress', async () => {
      let inFlight = 0, most = 0;
      const { port, connections } = await serve({ codec }, (req, res) => {
        inFlight++;
        most = Math.max(most, inFlight);
        setTimeout(() => { inFlight--; res.end(req.url); }, 10);
      });
      const client = newClient({ address: port, multiplex: false, maxConnectionsPerAddress: 3 });
      const bodies = await Promise.all(Array.from({ length: 20 }, (_, i) => client.request({ params: GET(`/${i}`) }).then((r) => r.text())));
      expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => `/${i}`));
      expect(connections.length).toBe(3);
      expect(most).toBe(3);
      expect(client.stats.connections).toBe(3);
    });

    it('adapts when the server refuses a request with CANT_MPX_CONN', async () => {
      const { port } = await serve({ codec, maxRequestsPerConnection: 5 }, (req, res) => { setTimeout(() => res.end(req.url), 5); });
      const client = newClient({ address: port, multiplex: true, maxConnectionsPerAddress: 1, maxRequestsPerConnection: 20 });
      const bodies = await Promise.all(Array.from({ length: 30 }, (_, i) => client.request({ params: GET(`/${i}`) }).then((r) => r.text())));
      expect(bodies).toEqual(Array.from({ length: 30 }, (_, i) => `/${i}`));
    });

    it('a refused request whose body is a stream is not sent again with what is left of it', async () => {
      const { port } = await serve({ codec, maxRequestsPerConnection: 5 }, async (req, res) => {
        const parts: Buffer[] = [];
        for await (const c of req) parts.push(c as Buffer);
        setTimeout(() => res.end(`${req.url} ${Buffer.concat(parts).toString()}`), 5);
      });
      const client = newClient({ address: port, multiplex: true, maxConnectionsPerAddress: 1, maxRequestsPerConnection: 20 });
      const out = await Promise.all(Array.from({ length: 20 }, (_, i) => client.request({
        params: { ...POST(`/s${i}`), CONTENT_LENGTH: '3' }, body: Readable.from([Buffer.from('abc')]),
      }).then((r) => r.text(), (e: { code?: string }) => e.code)));
      for (const [i, r] of out.entries()) expect([`/s${i} abc`, 'ERR_FASTCGI_CANT_MPX_CONN']).toContain(r);
      expect(out).toContain('ERR_FASTCGI_CANT_MPX_CONN'); // some were refused: 20 asked, 5 taken per connection
    });

    it('a peer that multiplexes fewer requests per connection than asked: every request waits its turn, none fails', async () => {
      const { port } = await serve({ codec, maxRequestsPerConnection: 5 }, (req, res) => { setTimeout(() => res.end(req.url), 20); });
      const client = newClient({ address: port }); // 'auto': GET_VALUES says it multiplexes; its limit is learned
      const out = await Promise.all(Array.from({ length: 40 }, (_, i) => client.request({ params: GET(`/${i}`) })
        .then((r) => r.text(), (e: { code?: string }) => `failed ${e.code}`)));
      expect(out).toEqual(Array.from({ length: 40 }, (_, i) => `/${i}`));
      // Later bursts too (each new connection learns the limit the same way, without failing a request).
      const more = await Promise.all(Array.from({ length: 20 }, (_, i) => client.request({ params: GET(`/m${i}`) }).then((r) => r.text())));
      expect(more).toEqual(Array.from({ length: 20 }, (_, i) => `/m${i}`));
    });

    it("keeps to the peer's FCGI_MAX_CONNS: a server taking one connection serves every request on it", async () => {
      const { port } = await serve({ codec, maxConnections: 1, maxRequestsPerConnection: 1 }, (req, res) => { setTimeout(() => res.end(req.url), 10); });
      const client = newClient({ address: port, maxConnectionsPerAddress: 4 });
      const out = await Promise.all(Array.from({ length: 10 }, (_, i) => client.request({ params: GET(`/${i}`) })
        .then((r) => r.text(), (e: { code?: string }) => `failed ${e.code}`)));
      expect(out).toEqual(Array.from({ length: 10 }, (_, i) => `/${i}`));
      expect(client.stats.connections).toBe(1);
    });

    it('a call that waits in the queue longer than queueTimeout fails with ERR_CGIWIRE_QUEUE_TIMEOUT; one served in time does not', async () => {
      const { port } = await serve({ codec }, (req, res) => { setTimeout(() => res.end(req.url), req.url === '/long' ? 800 : 10); });
      const client = newClient({ address: port, multiplex: false, maxConnectionsPerAddress: 1, queueTimeout: 200 });
      const long = client.request({ params: GET('/long') });
      await until(() => client.stats.connections === 1 && client.stats.queued === 0, 2000, 'the first request running');
      const t0 = Date.now();
      await expect(client.request({ params: GET('/waits') })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_QUEUE_TIMEOUT' });
      expect(Date.now() - t0).toBeLessThan(700);
      expect(await (await long).text()).toBe('/long');
      expect(client.stats.queued).toBe(0);
      const quick = newClient({ address: port, multiplex: false, maxConnectionsPerAddress: 1, queueTimeout: 500 });
      const both = await Promise.all([GET('/a'), GET('/b')].map((params) => quick.request({ params }).then((r) => r.text())));
      expect(both).toEqual(['/a', '/b']);
    });

    it('fails with ERR_CGIWIRE_QUEUE_FULL beyond maxQueue', async () => {
      const { port } = await serve({ codec }, (_req, res) => { setTimeout(() => res.end('x'), 100); });
      const client = newClient({ address: port, multiplex: false, maxConnectionsPerAddress: 1, maxQueue: 2 });
      const ok = [client.request({ params: GET('/') })];
      await until(() => client.stats.connections === 1 && client.stats.queued === 0, 2000, 'the first request running');
      ok.push(client.request({ params: GET('/') }), client.request({ params: GET('/') }));
      await expect(client.request({ params: GET('/') })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_QUEUE_FULL' });
      for (const r of await Promise.all(ok)) expect(await r.text()).toBe('x');
    });

    it('times out a request the server never answers, and the client goes on working', async () => {
      const { port } = await serve({ codec }, (req, res) => { if (req.url !== '/never') res.end('ok'); });
      const client = newClient({ address: port, timeout: 200 });
      await expect(client.request({ params: GET('/never') })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_TIMEOUT' });
      expect(await (await client.request({ params: GET('/') })).text()).toBe('ok');
      await expect(client.request({ params: GET('/never'), timeout: 50 })).rejects.toBeInstanceOf(ClientError);
    });

    it('an abort before the request started takes it out of the queue', async () => {
      const { port } = await serve({ codec }, (_req, res) => { setTimeout(() => res.end('x'), 100); });
      const client = newClient({ address: port, multiplex: false, maxConnectionsPerAddress: 1 });
      const first = client.request({ params: GET('/') });
      const ac = new AbortController();
      const second = client.request({ params: GET('/'), signal: ac.signal });
      ac.abort();
      await expect(second).rejects.toMatchObject({ name: 'AbortError' });
      expect(await (await first).text()).toBe('x');
      expect(client.stats.queued).toBe(0);
      const signal = AbortSignal.abort();
      await expect(client.request({ params: GET('/'), signal })).rejects.toMatchObject({ name: 'AbortError' });
    });

    it('reports STDERR as a stream and as an event, keeping at most maxStderrBytes unread', async () => {
      const { port } = await serve({ codec }, (_req, res) => {
        res.stderr.write('first line\n');
        res.stderr.write(Buffer.alloc(3000, 'e'));
        res.end('body');
      });
      const client = newClient({ address: port, maxStderrBytes: 1000 });
      const events: string[] = [];
      client.on('stderr', (chunk: Buffer, source: { address: string }) => events.push(`${source.address}:${chunk.length}`));
      const r = await client.request({ params: GET('/') });
      expect(await r.text()).toBe('body');
      expect(await r.stderrText()).toBe('first line\n');
      expect(events).toEqual([`127.0.0.1:${port}:11`, `127.0.0.1:${port}:3000`]);
    });

    it('stops reading while a response body is unread beyond bodyBufferBytes', async () => {
      const big = randomBytes(4 << 20);
      const { port } = await serve({ codec }, (_req, res) => { res.end(big); });
      const client = newClient({ address: port, bodyBufferBytes: 65536 });
      const r = await client.request({ params: GET('/') });
      await sleep(200);
      // The body stream holds about bodyBufferBytes (plus the one socket read that crossed it), not 4 MiB.
      expect(r.body.readableLength).toBeLessThan(65536 + 256 * 1024);
      expect(sha(await r.buffer())).toBe(sha(big));
    });

    it('a body taken whole leaves an ended, empty body stream, and the connection serves the next request', async () => {
      const { port } = await serve({ codec }, (_req, res) => { res.end('whole body'); });
      const client = newClient({ address: port, maxConnectionsPerAddress: 1 });
      const r = await client.request({ params: GET('/') });
      await until(() => r.appStatus !== null, 2000, 'the response ended');
      expect(r.takeWhole()?.toString()).toBe('whole body');
      expect(r.takeWhole()).toBeNull();
      const ended = new Promise<void>((resolve) => r.body.once('end', resolve));
      await withTimeout(ended, 2000, "the taken body's 'end'");
      expect(r.body.readableLength).toBe(0);
      expect(await (await client.request({ params: GET('/again') })).text()).toBe('whole body');
      expect(client.stats.connections).toBe(1);
    });

    it('a body first asked for after its connection failed mid-body fails with a ClientError, as a stream read all along does', async () => {
      const { port } = await serve({ codec }, (_req, res) => {
        res.write(Buffer.alloc(1000, 0x61));
        setTimeout(() => res.socket?.destroy(), 100);
      });
      const client = newClient({ address: port });
      const r = await client.request({ params: GET('/') });
      await sleep(400);  // the failure comes before anything reads the body
      let got = 0;
      const read = (async () => { for await (const chunk of r.body) got += (chunk as Buffer).length; })();
      await expect(read).rejects.toBeInstanceOf(ClientError);
      expect(got).toBeLessThanOrEqual(1000);  // a stream destroyed with an error drops what it held
    });

    it('streams a request body with backpressure: a server that does not read it holds the source back', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => { release = r; });
      const { port } = await serve({ codec }, async (_req, res) => { await gate; res.end('done'); });
      const client = newClient({ address: port });
      let produced = 0;
      const source = new Readable({
        read() {
          if (produced >= 256 << 20) { this.push(null); return; }
          produced += 65536;
          this.push(Buffer.alloc(65536));
        },
      });
      const pending = client.request({ params: POST('/'), body: source });
      await sleep(300);
      // The server holds 64 KiB unread and stops reading; the socket buffers hold a few MiB more; not 256 MiB.
      expect(produced).toBeLessThan(16 << 20);
      expect(source.isPaused() || source.readableLength > 0).toBe(true);
      release();
      expect(await (await pending).text()).toBe('done');
    });

    it('closes a connection left unused for idleTimeout', async () => {
      let closed = 0;
      const { port, server } = await serve({ codec }, (_q, res) => res.end('x'));
      server.on('connection', (socket: import('node:net').Socket) => socket.on('close', () => closed++));
      const client = newClient({ address: port, idleTimeout: 100 });
      expect(await (await client.request({ params: GET('/') })).text()).toBe('x');
      expect(client.stats.connections).toBe(1);
      await until(() => client.stats.connections === 0 && closed === 1, 2000, 'the idle connection closed');
    });

    it('a consumer that reads slowly is not timed out while the connection waits for it', async () => {
      const big = randomBytes(4 << 20);
      const { port } = await serve({ codec }, (_req, res) => { res.end(big); });
      const client = newClient({ address: port, timeout: 150 });
      const r = await client.request({ params: GET('/') });
      await sleep(500);
      expect(sha(await r.buffer())).toBe(sha(big));
    });

    it('a body destroyed early cancels the request, and the connection stays usable', async () => {
      let closedEarly = 0;
      const { port, connections } = await serve({ codec }, (req, res) => {
        if (req.url === '/endless') {
          const timer = setInterval(() => res.write(Buffer.alloc(16384)), 1);
          res.on('close', () => { clearInterval(timer); if (!res.writableFinished) closedEarly++; });
          return;
        }
        res.end('ok');
      });
      const client = newClient({ address: port });
      const r = await client.request({ params: GET('/endless') });
      r.body.once('data', () => r.body.destroy());
      await until(() => closedEarly === 1, 3000, 'the server saw the abort');
      expect(await (await client.request({ params: GET('/') })).text()).toBe('ok');
      expect(connections.length).toBe(1);
    });

    it('fails with ERR_CGIWIRE_CONNECT_FAILED when nobody listens, naming the address', async () => {
      const { port, server } = await serve({ codec }, (_q, s) => s.end());
      await new Promise<void>((r) => server.close({ timeout: 10 }, () => r()));
      const client = newClient({ address: port });
      const err = await client.request({ params: GET('/') }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_CGIWIRE_CONNECT_FAILED', address: `127.0.0.1:${port}` });
      await expect(client.getValues()).rejects.toMatchObject({ code: 'ERR_CGIWIRE_CONNECT_FAILED', address: `127.0.0.1:${port}` });
    });

    it('reconnects to a server that restarted on the same port', async () => {
      const first = await serve({ codec }, (_q, s) => s.end('one'));
      const client = newClient({ address: first.port });
      expect(await (await client.request({ params: GET('/') })).text()).toBe('one');
      await new Promise<void>((r) => first.server.close({ timeout: 10 }, () => r()));
      await sleep(20);
      await serve({ codec, maxRequestsPerConnection: 1 }, (_q, s) => s.end('two'), first.port);
      expect(await (await client.request({ params: GET('/') })).text()).toBe('two');
      // It learned again that the new server does not multiplex.
      const values = await client.getValues();
      expect(values.FCGI_MPXS_CONNS).toBe('0');
    });

    it('balances over a list of addresses', async () => {
      const a = await serve({ codec }, (_q, s) => setTimeout(() => s.end('a'), 5));
      const b = await serve({ codec }, (_q, s) => setTimeout(() => s.end('b'), 5));
      const client = newClient({ address: `127.0.0.1:${a.port},127.0.0.1:${b.port}`, multiplex: false, maxConnectionsPerAddress: 2 });
      const bodies = await Promise.all(Array.from({ length: 40 }, () => client.request({ params: GET('/') }).then((r) => r.text())));
      expect(bodies.filter((x) => x === 'a').length).toBeGreaterThan(5);
      expect(bodies.filter((x) => x === 'b').length).toBeGreaterThan(5);
    });

    it('goes on with the other address when one is down', async () => {
      const up = await serve({ codec }, (_q, s) => s.end('up'));
      const down = await serve({ codec }, (_q, s) => s.end('down'));
      await new Promise<void>((r) => down.server.close({ timeout: 10 }, () => r()));
      const client = newClient({ address: [`127.0.0.1:${down.port}`, `127.0.0.1:${up.port}`], multiplex: false });
      const bodies = await Promise.all(Array.from({ length: 10 }, () => client.request({ params: GET('/') }).then((r) => r.text())));
      expect(bodies).toEqual(Array(10).fill('up'));
    });

    it('FILTER with DATA given as bytes: FCGI_DATA_LENGTH is sent when the params lack it, and a given one is kept', async () => {
      const seen: (string | undefined)[] = [];
      const { port } = await serve({ codec, roles: ['filter'] }, (req, res) => {
        seen.push(req.cgi.get('FCGI_DATA_LENGTH'));
        req.data!.resume();
        req.data!.on('end', () => res.end(String(req.dataLength)));
        req.resume();
      });
      const client = newClient({ address: port });
      expect(await (await client.request({ params: GET('/f'), role: 'filter', data: 'hello filter' })).text()).toBe('12');
      expect(await (await client.request({ params: GET('/f'), role: 'filter', data: Buffer.alloc(0) })).text()).toBe('0');
      expect(await (await client.request({ params: { ...GET('/f'), FCGI_DATA_LENGTH: '3' }, role: 'filter', data: 'abc' })).text()).toBe('3');
      expect(seen).toEqual(['12', '0', '3']);
    });

    it('speaks the AUTHORIZER and FILTER roles, and reports UNKNOWN_ROLE', async () => {
      const { port } = await serve({ codec, roles: ['authorizer', 'filter'] }, (req, res) => {
        if (req.role === 'authorizer') {
          allow(res, { USER: 'ann' });
          return;
        }
        const parts: Buffer[] = [];
        req.data!.on('data', (c: Buffer) => parts.push(c));
        req.data!.on('end', () => res.end(`filtered ${Buffer.concat(parts).toString().toUpperCase()}`));
        req.resume();
      });
      const client = newClient({ address: port });
      const auth = await client.request({ params: GET('/'), role: 'authorizer' });
      expect(auth.status).toBe(200);
      expect(auth.headers['variable-user']).toBe('ann');
      // An authorizer is sent no body (FastCGI 1.0, 6.3): one given is refused, not announced and dropped.
      await expect(client.request({ params: GET('/'), role: 'authorizer', body: 'x'.repeat(100) })).rejects.toThrow(/authorizer request has no body/);
      const filter = await client.request({ params: { ...GET('/f'), FCGI_DATA_LENGTH: '5' }, role: 'filter', data: 'hello' });
      expect(await filter.text()).toBe('filtered HELLO');
      const plain = await serve({ codec }, (_q, s) => s.end());
      const other = newClient({ address: plain.port });
      await expect(other.request({ params: GET('/'), role: 'authorizer' })).rejects.toMatchObject({ code: 'ERR_FASTCGI_UNKNOWN_ROLE' });
    });

    it('closes gracefully: requests under way finish, new ones are refused', async () => {
      const { port } = await serve({ codec }, (_q, s) => setTimeout(() => s.end('done'), 50));
      const client = new Client({ codec, address: port });
      const pending = client.request({ params: GET('/') });
      await sleep(10);
      const closed = client.close();
      await expect(client.request({ params: GET('/') })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_CLIENT_CLOSED' });
      expect(await (await pending).text()).toBe('done');
      await withTimeout(closed, 2000, 'client.close()');
      expect(client.stats.connections).toBe(0);
    });

    it('checks its options and request arguments', () => {
      expect(() => new Client({ address: 'nowhere' })).toThrow(/invalid address/);
      expect(() => new Client({ address: 9000, maxConnectionsPerAddress: 0 })).toThrow(RangeError);
      expect(() => new Client({ address: 9000, multiplex: 'yes' as never })).toThrow(TypeError);
      const client = newClient({ address: 9 });
      return Promise.all([
        expect(client.request({} as never)).rejects.toThrow(TypeError),
        expect(client.request({ params: GET('/'), role: 'boss' as never })).rejects.toThrow(/unknown role/),
        expect(client.request({ params: GET('/'), body: 5 as never })).rejects.toThrow(TypeError),
      ]);
    });

    it('bodyBufferBytes is a buffer size: Infinity, NaN and values below 1 are refused, a fraction is rounded down', async () => {
      for (const bad of [Infinity, NaN, 0, 0.5, -1]) {
        expect(() => new Client({ address: 9000, bodyBufferBytes: bad })).toThrow(RangeError);
      }
      // A response streamed in two pieces, read as a stream: the buffer size must be one a Readable takes.
      const { port } = await serve({ codec }, (_req, res) => { res.write('first '); setTimeout(() => res.end('second'), 50); });
      const client = newClient({ address: port, bodyBufferBytes: 1000.5 });
      expect(await (await client.request({ params: GET('/') })).text()).toBe('first second');
    });

    it('a param value of a wrong type is refused by request(); requests queued beside it go on', async () => {
      const { port } = await serve({ codec }, (_q, res) => { setTimeout(() => res.end('ok'), 50); });
      const client = newClient({ address: port, maxConnectionsPerAddress: 1, multiplex: false });
      const a = client.request({ params: GET('/a') });
      for (const bad of [null, true, {}, Symbol('s')]) {
        await expect(withTimeout(client.request({ params: { ...GET('/b'), X: bad as never } }), 2000, 'the refusal')).rejects.toThrow(TypeError);
      }
      const d = client.request({ params: GET('/d') });
      expect(await (await a).text()).toBe('ok');
      expect(await withTimeout((await d).text(), 2000, 'the request after the refused ones')).toBe('ok');
    });

    it('a pair given as any two-element iterable is sent, not dropped', async () => {
      const seen: string[] = [];
      const { port } = await serve({ codec }, (req, res) => { seen.push(req.cgi.get('X_PAIR') ?? 'missing'); res.end('ok'); });
      const client = newClient({ address: port });
      const pair = new Set(['X_PAIR', 'v']) as unknown as [string, string];
      expect(await (await client.request({ params: [...Object.entries(GET('/')), pair] })).text()).toBe('ok');
      expect(seen).toEqual(['v']);
    });
  });

  describe(`FastCGI client against faulty peers (${codecName} codec)`, () => {
    const peer = async (...args: Parameters<typeof fakeFastCgi>): Promise<FakePeer> => {
      const p = await fakeFastCgi(...args);
      peers.push(p);
      return p;
    };

    it('a request lost with its kept connection is sent again once, and only when its method is idempotent', async () => {
      const runs: Record<string, number> = {};
      // The peer answers the warm-up GETs, then "crashes" (closes with no answer) on every /crash request.
      const p = await peer((r) => {
        if (r.params.REQUEST_URI !== '/crash') { r.stdout('\r\nwarm'); r.end(); return; }
        runs[r.params.REQUEST_METHOD] = (runs[r.params.REQUEST_METHOD] ?? 0) + 1; // the side effect
        setTimeout(() => r.socket.destroy(), 30);
      });
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 3 });
      await Promise.all([1, 2, 3].map(async () => (await client.request({ params: GET('/') })).text())); // kept connections
      const post = await client.request({ params: POST('/crash'), body: 'amount=100' }).catch((e: Error) => e);
      const get = await client.request({ params: GET('/crash') }).catch((e: Error) => e);
      expect(post).toMatchObject({ code: 'ERR_CGIWIRE_CONNECTION_CLOSED' });
      expect(get).toMatchObject({ code: 'ERR_CGIWIRE_CONNECTION_CLOSED' });
      expect(runs).toEqual({ POST: 1, GET: 2 });
    });

    it('the body bytes that follow the header block in a large read are a copy, not a view that keeps the read alive', async () => {
      const p = await peer((r) => {
        // One write: this request's head and 4 body bytes, 60 KB of STDOUT for an id that is not running
        // (ignored), then the end. The 4 bytes must not hold the 60 KB.
        const raw = (type: number, id: number, content: Buffer): Buffer => {
          const h = Buffer.alloc(8);
          h[0] = 1; h[1] = type; h.writeUInt16BE(id, 2); h.writeUInt16BE(content.length, 4);
          return Buffer.concat([h, content]);
        };
        r.socket.write(Buffer.concat([raw(6, r.id, Buffer.from('Content-Type: text/plain\r\n\r\ntiny')),
          raw(6, 999, Buffer.alloc(60000, 0x41)), raw(3, r.id, Buffer.alloc(8))]));
      });
      const client = newClient({ address: p.port });
      const res = await client.request({ params: GET('/') });
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('tiny');
      for (const c of chunks) expect(c.buffer.byteLength).toBeLessThan(60000);
    });

    it('a request sent ahead of a response nobody reads gets its timeout, not an endless wait', async () => {
      const p = await peer((r) => {
        if (r.params.REQUEST_URI === '/big') {
          r.stdout('Content-Type: application/octet-stream\r\n\r\n');
          for (let i = 0; i < 32; i++) r.stdout(Buffer.alloc(32768, 0x62)); // 1 MiB: more than the client buffers
          r.end();
        } else { r.stdout('\r\nsmall'); r.end(); }
      });
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 1, pipeline: 2, timeout: 300 });
      const big = await client.request({ params: GET('/big') }); // its body is never read: the connection is held
      const t0 = Date.now();
      const small = await client.request({ params: GET('/small') }).then((r) => r.text(), (e: Error) => e);
      expect(small).toMatchObject({ code: 'ERR_CGIWIRE_TIMEOUT' });
      expect(Date.now() - t0).toBeLessThan(2000);
      big.body.destroy();
    });

    it('bounds the response header block (maxHeaderBytes)', async () => {
      const p = await peer((r) => { r.stdout('X-Long: ' + 'a'.repeat(100_000)); });
      const client = newClient({ address: p.port, multiplex: false, maxHeaderBytes: 8192 });
      await expect(client.request({ params: GET('/') })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_RESPONSE_HEADER_TOO_LARGE' });
      const p2 = await peer((r) => { r.stdout('X-Long: ' + 'a'.repeat(10_000) + '\r\n\r\nbody'); r.end(); });
      const ok = newClient({ address: p2.port, multiplex: false, maxHeaderBytes: 16384 });
      expect(await (await ok.request({ params: GET('/') })).text()).toBe('body');
    });

    it('reads a header block cut anywhere, with LF or CRLF line ends, and ends streams at END_REQUEST', async () => {
      const text = 'Status: 404 Gone\nX-A: 1\r\nLocation: /x\r\n\r\nthe body';
      const p = await peer((r) => {
        const cut = Number(r.params.CUT);
        r.stdout(text.slice(0, cut));
        setTimeout(() => { r.stdout(text.slice(cut)); r.end(7); }, 2);
      });
      const client = newClient({ address: p.port, multiplex: false });
      for (let cut = 1; cut < text.length; cut += 3) {
        const r = await client.request({ params: { ...GET('/'), CUT: String(cut) } });
        expect([r.status, r.statusText, r.headers['x-a'], r.headers.location]).toEqual([404, 'Gone', '1', '/x']);
        expect(await r.text()).toBe('the body');
        expect(r.appStatus).toBe(7);
      }
    });

    it('fails a request whose response ends inside its header block, or has a bad header line', async () => {
      const p = await peer((r) => {
        if (r.params.KIND === 'short') r.stdout('X-A: 1\r\n');
        else if (r.params.KIND === 'empty') { /* nothing */ } else r.stdout('not a header\r\n\r\n');
        r.end();
      });
      const client = newClient({ address: p.port, multiplex: false });
      await expect(client.request({ params: { ...GET('/'), KIND: 'short' } })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_BAD_RESPONSE' });
      await expect(client.request({ params: { ...GET('/'), KIND: 'empty' } })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_BAD_RESPONSE' });
      await expect(client.request({ params: { ...GET('/'), KIND: 'line' } })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_BAD_RESPONSE_HEADER' });
    });

    it('a connection that dies fails only its own request', async () => {
      const p = await peer((r) => {
        if (r.params.REQUEST_URI === '/die') {
          r.stdout('Status: 200\r\n\r\npartial');
          setTimeout(() => r.socket.destroy(), 20);
          return;
        }
        setTimeout(() => { r.stdout('\r\nfine'); r.end(); }, 40);
      });
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 2 });
      const dying = await client.request({ params: GET('/die') });
      const fine = client.request({ params: GET('/ok') });
      const err = await dying.buffer().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_CGIWIRE_CONNECTION_CLOSED' });
      expect(await (await fine).text()).toBe('fine');
    });

    it('a request is retried once when a kept connection was closed by the peer as it was sent', async () => {
      let n = 0;
      const p = await peer((r) => {
        n++;
        if (n === 2) { r.socket.destroy(); return; }  // the peer drops the kept connection with the second request
        r.stdout('\r\nok' + n);
        r.end();
      });
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 1 });
      expect(await (await client.request({ params: GET('/') })).text()).toBe('ok1');
      expect(await (await client.request({ params: GET('/') })).text()).toBe('ok3');
      expect(p.connections.length).toBe(2);
    });

    it('sends ABORT_REQUEST on a multiplexed connection and closes a plain one on abort', async () => {
      const held: { end(): void }[] = [];
      const p = await peer((r) => { r.stdout('\r\n'); held.push(r); });
      const mpx = newClient({ address: p.port, multiplex: true });
      const ac = new AbortController();
      const r = await mpx.request({ params: GET('/'), signal: ac.signal });
      ac.abort();
      await expect(r.buffer()).rejects.toMatchObject({ name: 'AbortError' });
      await until(() => p.seen.some((s) => s.type === 2), 2000, 'ABORT_REQUEST');
      expect(p.connections[0].destroyed).toBe(false);
      const plain = newClient({ address: p.port, multiplex: false });
      const ac2 = new AbortController();
      const r2 = await plain.request({ params: GET('/'), signal: ac2.signal });
      ac2.abort();
      await expect(r2.buffer()).rejects.toMatchObject({ name: 'AbortError' });
      await until(() => p.connections[1]?.destroyed === true || p.connections[1]?.readableEnded === true, 2000, 'the close');
    });

    it('works with a peer that ignores GET_VALUES, and with one that hangs up on it', async () => {
      const answer = (r: { stdout(b: string): void; end(): void }): void => { r.stdout('\r\nhi'); r.end(); };
      const silent = await peer(answer);
      const a = newClient({ address: silent.port, probeTimeout: 100 });
      expect(await (await a.request({ params: GET('/') })).text()).toBe('hi');
      expect(await (await a.request({ params: GET('/') })).text()).toBe('hi');
      expect(silent.connections.length).toBe(1);
      const rude = await peer(answer, (socket) => socket.destroy());
      const b = newClient({ address: rude.port, retryDelay: 0 });
      // The first request may fail with the hang-up; from then on the client no longer asks.
      await b.request({ params: GET('/') }).then((r) => r.text(), (e: unknown) => e);
      expect(await (await b.request({ params: GET('/') })).text()).toBe('hi');
      expect(await (await b.request({ params: GET('/') })).text()).toBe('hi');
    });

    /** A peer that, like PHP-FPM, serves the requests of one connection one after the other, in order. */
    const serial = (delay: number, onEach?: (r: FakeRequest, n: number) => boolean) => {
      let most = 0;
      let count = 0;
      const queues = new Map<unknown, FakeRequest[]>();
      const next = (socket: unknown): void => {
        const q = queues.get(socket)!;
        const r = q[0];
        if (r === undefined) return;
        setTimeout(() => {
          if (onEach?.(r, ++count) === false) return;
          r.stdout(`\r\n${r.params.REQUEST_URI}`);
          r.end();
          q.shift();
          next(socket);
        }, delay);
      };
      return {
        most: () => most,
        onRequest: (r: FakeRequest) => {
          const q = queues.get(r.socket) ?? [];
          queues.set(r.socket, q);
          q.push(r);
          most = Math.max(most, q.length);
          if (q.length === 1) next(r.socket);
        },
      };
    };

    it('pipelines requests on a kept connection once every connection allowed is busy', async () => {
      const s = serial(10);
      const p = await peer(s.onRequest);
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 1, pipeline: 2 });
      const bodies = await Promise.all(Array.from({ length: 8 }, (_, i) => client.request({ params: GET(`/${i}`) }).then((r) => r.text())));
      expect(bodies).toEqual(Array.from({ length: 8 }, (_, i) => `/${i}`));
      expect(s.most()).toBe(2);
      expect(p.connections.length).toBe(1);
      // Without the option, one at a time.
      const s1 = serial(5);
      const p1 = await peer(s1.onRequest);
      const plain = newClient({ address: p1.port, multiplex: false, maxConnectionsPerAddress: 1 });
      await Promise.all(Array.from({ length: 4 }, () => plain.request({ params: GET('/') }).then((r) => r.text())));
      expect(s1.most()).toBe(1);
    });

    it('never pipelines a request whose body is a stream', async () => {
      const s = serial(10);
      const p = await peer(s.onRequest);
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 1, pipeline: 2 });
      const bodies = await Promise.all(Array.from({ length: 3 }, (_, i) => client.request({
        params: { ...POST(`/${i}`), CONTENT_LENGTH: '1' }, body: Readable.from([Buffer.from('x')]),
      }).then((r) => r.text())));
      expect(bodies).toEqual(['/0', '/1', '/2']);
      expect(s.most()).toBe(1);
    });

    it('a request sent ahead is sent again when the peer closes after the one before', async () => {
      // As PHP-FPM does when a worker reaches pm.max_requests: it answers, then closes the connection.
      const s = serial(10, (r, n) => {
        if (n === 1) {
          r.stdout('\r\nfirst');
          r.end();
          r.socket.end();
          return false;
        }
        return true;
      });
      const p = await peer(s.onRequest);
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 1, pipeline: 2 });
      const [a, b] = await Promise.all([GET('/a'), GET('/b')].map((params) => client.request({ params }).then((r) => r.text())));
      expect([a, b]).toEqual(['first', '/b']);
      expect(p.connections.length).toBe(2);
    });

    it('cancelling a request sent ahead leaves the one before it whole', async () => {
      const s = serial(30);
      const p = await peer(s.onRequest);
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 1, pipeline: 2 });
      const ac = new AbortController();
      const first = client.request({ params: GET('/first') });
      const second = client.request({ params: GET('/second'), signal: ac.signal });
      await sleep(5);
      ac.abort();
      await expect(second).rejects.toMatchObject({ name: 'AbortError' });
      expect(await (await first).text()).toBe('/first');
      expect(await (await client.request({ params: GET('/third') })).text()).toBe('/third');
      expect(p.connections.length).toBe(1);
    });

    it('stops pipelining on a connection whose peer refuses a second request (CANT_MPX_CONN)', async () => {
      let busy = false;
      const p = await peer((r) => {
        if (busy) { r.end(0, 1); return; }
        busy = true;
        setTimeout(() => { busy = false; r.stdout(`\r\n${r.params.REQUEST_URI}`); r.end(); }, 10);
      });
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 1, pipeline: 2 });
      const bodies = await Promise.all(Array.from({ length: 4 }, (_, i) => client.request({ params: GET(`/${i}`) }).then((r) => r.text())));
      expect(bodies).toEqual(['/0', '/1', '/2', '/3']);
    });

    it('close() right after a request lets it run, also for one waiting for its connection', async () => {
      const s = serial(5);
      const p = await peer(s.onRequest);
      const client = new Client({ codec, address: p.port, multiplex: false, maxConnectionsPerAddress: 1 });
      const a = client.request({ params: GET('/a') }).then((r) => r.text());
      const b = client.request({ params: GET('/b') }).then((r) => r.text());
      const closed = client.close();
      expect(await withTimeout(Promise.all([a, b]), 3000, 'both requests')).toEqual(['/a', '/b']);
      await withTimeout(closed, 3000, 'close()');
    });

    it('destroy() with any error fails every request and opens nothing after', async () => {
      const p = await peer(() => { /* never answers */ });
      const client = new Client({ codec, address: p.port, multiplex: false, maxConnectionsPerAddress: 1 });
      const a = client.request({ params: GET('/a') }).catch((e: unknown) => e);
      const b = client.request({ params: GET('/b') }).catch((e: unknown) => e);
      await until(() => p.connections.length === 1 && p.seen.some((x) => x.type === 1), 2000, 'the first request sent');
      client.destroy(new Error('gone'));
      expect((await withTimeout(a, 2000, 'a') as Error).message).toMatch(/gone|closed/);
      expect((await withTimeout(b, 2000, 'b') as Error).message).toMatch(/gone/);
      await sleep(100);
      expect(p.connections.length).toBe(1);
    });

    it('a request sent ahead starts its read timeout when the peer reaches it', async () => {
      // The first answer takes 4 x 100 ms in pieces; the second, sent ahead, must not time out meanwhile.
      let n = 0;
      const p = await peer((r) => {
        n++;
        if (n === 1) {
          r.stdout('\r\n');
          let k = 0;
          const t = setInterval(() => {
            r.stdout('x');
            if (++k === 4) {
              clearInterval(t);
              r.end();
              setTimeout(() => { second?.stdout('\r\nsecond'); second?.end(); }, 20);
            }
          }, 100);
        } else second = r;
      });
      let second: FakeRequest | undefined;
      const client = newClient({ address: p.port, multiplex: false, maxConnectionsPerAddress: 1, pipeline: 2, timeout: 250 });
      const first = client.request({ params: GET('/1') }).then((r) => r.text());
      const next = client.request({ params: GET('/2') }).then((r) => r.text());
      expect(await first).toBe('xxxx');
      expect(await next).toBe('second');
    });

    it('a slow consumer of one multiplexed response does not time out the others or a cancelled one', async () => {
      const big = Buffer.alloc(60000, 0x61);
      const p = await peer((r) => {
        if (r.params.REQUEST_URI === '/big') {
          r.stdout('\r\n');
          for (let i = 0; i < 20; i++) r.stdout(big);
          r.end();
        }
      }, (socket, type) => {
        if (type === 9) socket.write(Buffer.from(encodeGetValuesResult([['FCGI_MPXS_CONNS', '1']])));
      });
      p.onAbort = (r) => r.end();
      const client = newClient({ address: p.port, timeout: 300, bodyBufferBytes: 65536 });
      const bigResponse = await client.request({ params: GET('/big') });
      const ac = new AbortController();
      const other = client.request({ params: GET('/other'), signal: ac.signal }).catch((e: unknown) => e);
      await sleep(100);
      ac.abort();
      expect(await other).toMatchObject({ name: 'AbortError' });
      await sleep(1300);  // the consumer comes back after the abort wait and the read timeout would have run out
      expect((await bigResponse.buffer()).length).toBe(20 * 60000);
    });

    it('passes over an address that fails for retryDelay, even when the other one is busy', async () => {
      // One request at a time on the address that works, so that requests wait for it.
      const up = await serve({ codec, maxRequestsPerConnection: 1 }, (_q, res) => setTimeout(() => res.end('up'), 50));
      // A peer that hangs up on every connection before answering GET_VALUES: each attempt fails during set-up.
      let attempts = 0;
      const { createServer: netServer } = await import('node:net');
      const rude = netServer((socket) => { attempts++; socket.destroy(); });
      await new Promise<void>((r) => rude.listen(0, '127.0.0.1', r));
      try {
        const client = newClient({ address: [`127.0.0.1:${(rude.address() as AddressInfo).port}`, `127.0.0.1:${up.port}`],
          maxConnectionsPerAddress: 1, retryDelay: 1000 });
        const bodies = await Promise.all(Array.from({ length: 6 }, () =>
          client.request({ params: GET('/') }).then((r) => r.text(), (e: Error) => e.message)));
        expect(bodies.filter((b) => b === 'up').length).toBeGreaterThanOrEqual(5);
        expect(attempts).toBeLessThanOrEqual(2);
      } finally {
        await new Promise<void>((r) => rude.close(() => r()));
      }
    });

    it('maxQueue counts only the requests that must wait: connections still to open take the others', async () => {
      const { port } = await serve({ codec }, (_q, res) => setTimeout(() => res.end('ok'), 20));
      const none = newClient({ address: port, multiplex: false, maxConnectionsPerAddress: 4, maxQueue: 0 });
      expect(await Promise.all([0, 1, 2].map(() => none.request({ params: GET('/') }).then((r) => r.text())))).toEqual(['ok', 'ok', 'ok']);
      const one = newClient({ address: port, multiplex: false, maxConnectionsPerAddress: 1, maxQueue: 1 });
      const results = await Promise.all([0, 1, 2].map(() => one.request({ params: GET('/') }).then((r) => r.text(), (e: { code: string }) => e.code)));
      expect(results.sort()).toEqual(['ERR_CGIWIRE_QUEUE_FULL', 'ok', 'ok']);
    });

    it('a CANT_MPX_CONN after some of the answer fails the request instead of sending it again', async () => {
      const p = await peer((r) => { r.stdout('\r\npartial'); r.end(0, 1); });
      const client = newClient({ address: p.port, multiplex: true });
      const r = await client.request({ params: GET('/') });
      await expect(r.buffer()).rejects.toMatchObject({ code: 'ERR_FASTCGI_CANT_MPX_CONN' });
    });

    it('a request body stream that has already ended is sent as empty; a destroyed one fails the request', async () => {
      const p = await peer((r) => { r.stdout('\r\nok'); r.end(); });
      const client = newClient({ address: p.port, multiplex: false });
      const ended = Readable.from([]);
      ended.resume();
      await new Promise((r) => ended.once('end', r));
      expect(await (await client.request({ params: POST('/'), body: ended })).text()).toBe('ok');
      const destroyed = new Readable({ read() {} });
      destroyed.destroy();
      await expect(client.request({ params: POST('/'), body: destroyed })).rejects.toMatchObject({ code: 'ERR_CGIWIRE_BODY_FAILED' });
    });

    it('does not crash on a body nobody listens to when its connection dies', async () => {
      const p = await peer((r) => { r.stdout('\r\npartial'); setTimeout(() => r.socket.destroy(), 10); });
      const client = newClient({ address: p.port, multiplex: false });
      const r = await client.request({ params: GET('/') });
      await sleep(50);
      expect(r.body.destroyed).toBe(true);
      await expect(r.buffer()).rejects.toMatchObject({ code: 'ERR_CGIWIRE_CONNECTION_CLOSED' });
    });
  });

  describe(`SCGI client (${codecName} codec)`, () => {
    const newScgi = (options: ConstructorParameters<typeof ScgiClient>[0]): ScgiClient => {
      const c = new ScgiClient({ codec, ...options });
      clients.push(c);
      return c;
    };

    it('sends requests with bodies of every kind, one connection each', async () => {
      const { port, connections } = await serve({ codec, protocol: 'scgi' }, echo);
      const client = newScgi({ address: `127.0.0.1:${port}` });
      expect(await (await client.request({ params: GET('/a?b') })).text()).toBe(`GET /a?b 0 ${sha(Buffer.alloc(0))}`);
      const bytes = randomBytes(200_000);
      expect(await (await client.request({ params: POST('/p'), body: bytes })).text()).toBe(`POST /p 200000 ${sha(bytes)}`);
      const stream = Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]);
      const r = await client.request({ params: { ...POST('/s'), CONTENT_LENGTH: '200000' }, body: stream });
      expect(r.headers['x-length']).toBe('200000');
      expect(await r.text()).toBe(`POST /s 200000 ${sha(bytes)}`);
      const many = await Promise.all(Array.from({ length: 10 }, (_, i) => client.request({ params: GET(`/${i}`) }).then((x) => x.text())));
      expect(many.map((m) => m.split(' ')[1])).toEqual(Array.from({ length: 10 }, (_, i) => `/${i}`));
      expect(connections.length).toBe(13);
    });

    it('needs CONTENT_LENGTH for a streamed body', async () => {
      const { port } = await serve({ codec, protocol: 'scgi' }, echo);
      const client = newScgi({ address: port });
      await expect(client.request({ params: POST('/'), body: Readable.from([Buffer.from('x')]) }))
        .rejects.toMatchObject({ code: 'ERR_CGIWIRE_SCGI_LENGTH_REQUIRED' });
    });

    it('holds a streamed body to its CONTENT_LENGTH: more bytes, or fewer, fail the call and nothing past it is sent', async () => {
      const received: number[] = [];
      const { port } = await serve({ codec, protocol: 'scgi' }, (req, res) => {
        let n = 0;
        req.on('data', (c: Buffer) => { n += c.length; });
        req.on('end', () => { received.push(n); res.end(`got ${n}`); });
      });
      const client = newScgi({ address: port, timeout: 3000 });
      const long = client.request({ params: { ...POST('/'), CONTENT_LENGTH: '3' }, body: Readable.from([Buffer.from('abc'), Buffer.from('def')]) });
      await expect(long).rejects.toMatchObject({ code: 'ERR_CGIWIRE_BODY_LENGTH' });
      const t0 = Date.now();
      const short = client.request({ params: { ...POST('/'), CONTENT_LENGTH: '10' }, body: Readable.from([Buffer.from('abc')]) });
      await expect(short).rejects.toMatchObject({ code: 'ERR_CGIWIRE_BODY_LENGTH' });
      // Failed when the stream ended, not by the timeout.
      expect(Date.now() - t0).toBeLessThan(1500);
      // The stream that matches its length still goes through.
      const r = await client.request({ params: { ...POST('/'), CONTENT_LENGTH: '6' }, body: Readable.from([Buffer.from('abc'), Buffer.from('def')]) });
      expect(await r.text()).toBe('got 6');
      expect(received.every((n) => n <= 6)).toBe(true);
    });

    it('fails a request whose connection closes before the header block ends', async () => {
      const { port } = await serve({ codec, protocol: 'scgi' }, (req) => { req.socket.destroy(); });
      const client = newScgi({ address: port });
      await expect(client.request({ params: GET('/') })).rejects.toBeInstanceOf(Error);
    });
  });
}
