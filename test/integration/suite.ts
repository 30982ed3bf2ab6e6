/**
 * The tests every front end gets: real HTTP through a real web server to the app in app.mjs.
 * Each test file starts its web server (and in-process cgiwire server) once, then calls frontEndSuite.
 */
import { Agent } from 'node:http';
import { expect, test } from 'vitest';
import { bytesOf, sha256 } from './app.mjs';
import { request, type Reply } from './client.js';
import { waitFor } from '../helpers/servers.js';

export interface FrontEnd {
  /** The web server's base URL (set in beforeAll). */
  base(): string;
  /** The web server's logs, appended to failure messages. */
  logs(): string;
  /** Requests in progress in the in-process cgiwire server, when there is one. */
  activeRequests?(): number;
  /**
   * A front end that passes on chunked uploads (no Content-Length) only up to `limit` bytes and refuses larger
   * ones itself, with a body matching `refusal` (HAProxy: FastCGI needs CONTENT_LENGTH, computed only for a
   * body held whole). Unset: no limit.
   */
  chunkedUploads?: { limit: number; refusal: RegExp };
  /**
   * Why the front end may close a kept-alive client connection after some responses, saying so with
   * `Connection: close` (h2o after a response without Content-Length). Unset: one connection must carry all.
   */
  closesKeptAlive?: string;
}

const MiB = 1024 * 1024;

/** Fails with the web server's logs attached. */
function check(fe: FrontEnd, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    (err as Error).message += `\n--- web server logs:\n${fe.logs()}`;
    throw err;
  }
}

function show(r: Reply): string {
  return `status ${r.status}, headers ${JSON.stringify(r.headers)}, body ${JSON.stringify(r.body.subarray(0, 300).toString('latin1'))}`;
}

async function stats(fe: FrontEnd): Promise<{ started: number; finished: number; aborted: number; inFlight: number }> {
  const r = await request(fe.base(), '/stats');
  expect(r.status, show(r)).toBe(200);
  return JSON.parse(r.body.toString());
}

export function frontEndSuite(fe: FrontEnd): void {
  test('GET with a query string and a percent-encoded non-ASCII path: req.url arrives byte-exact', async () => {
    const path = '/info/caf%C3%A9/%E2%9C%93/a%20b?q=%C3%A9t%C3%A9&x=1+2&empty=&flag&pct=%25';
    const r = await request(fe.base(), path);
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      const info = JSON.parse(r.body.toString());
      expect(info.method).toBe('GET');
      expect(info.url).toBe(path);
      expect(info.decodedPath).toBe('/info/café/✓/a b');
      expect(info.query).toEqual({ q: 'été', x: '1 2', empty: '', flag: '', pct: '%' });
    });
  });

  test("the app's req.headers, rawHeaders and req.socket look like node:http's", async () => {
    const r = await request(fe.base(), '/info/headers', {
      headers: { 'User-Agent': 'cgiwire-it/1.0', Cookie: 'a=1; b=2', 'X-Custom': 'v' },
    });
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      const info = JSON.parse(r.body.toString());
      const port = new URL(fe.base()).port;
      expect(info.headers.host).toMatch(new RegExp(`^127\\.0\\.0\\.1(:${port})?$`));
      expect(info.headers['user-agent']).toBe('cgiwire-it/1.0');
      expect(info.headers.cookie).toBe('a=1; b=2');
      expect(info.headers['x-custom']).toBe('v');
      // Names are lower case, as node:http's req.headers keys are.
      for (const k of Object.keys(info.headers)) expect(k).toBe(k.toLowerCase());
      expect(info.rawHeaders.length % 2).toBe(0);
      expect(info.httpVersion).toBe('1.1');
      expect(info.remoteAddress).toBe('127.0.0.1');
      expect(info.remoteFamily).toBe('IPv4');
      expect(info.remotePort).toBe(r.localPort);
      expect(info.localPort).toBe(Number(port));
    });
  });

  test('a repeated request header arrives joined with ", " as node:http joins it; two Cookie headers with "; "', async () => {
    // nginx before 1.23 sends a repeated header as two params of the same name (FastCGI and SCGI alike).
    const r = await request(fe.base(), '/info/repeated', { headers: { 'X-Rep': ['one', 'two'], Cookie: ['a=1', 'b=2'] } });
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      const info = JSON.parse(r.body.toString());
      expect(info.headers['x-rep']).toBe('one, two');
      expect(info.headers.cookie).toBe('a=1; b=2');
    });
  });

  test('a request header of 6 KiB arrives intact', async () => {
    const value = bytesOf(4608, 5).toString('base64'); // 6144 characters
    const r = await request(fe.base(), '/info/big-header', { headers: { 'X-Big': value } });
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      expect(JSON.parse(r.body.toString()).headers['x-big']).toBe(value);
    });
  });

  test.each([0, 1, 64 * 1024, 8 * MiB])('POST of %i bytes is echoed back byte-exact', async (n) => {
    const body = bytesOf(n, 0x1234 + n);
    const r = await request(fe.base(), '/echo', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      expect(r.headers['x-body-length']).toBe(String(n));
      expect(r.headers['x-body-sha256']).toBe(sha256(body));
      expect(r.body.length).toBe(n);
      expect(sha256(r.body)).toBe(sha256(body));
      if (n > 0) expect(r.headers['x-request-content-length']).toBe(String(n));
      expect(r.headers['x-request-content-type']).toBe('application/octet-stream');
    });
  });

  test('a chunked POST (no Content-Length from the client) is echoed back byte-exact', async () => {
    const limit = fe.chunkedUploads?.limit;
    const size = limit === undefined ? 100_000 : Math.min(100_000, limit);
    const body = bytesOf(size, 77);
    const r = await request(fe.base(), '/echo', { method: 'POST', body, chunkedPieces: Math.min(16_384, size) });
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      expect(r.headers['x-body-length']).toBe(String(body.length));
      expect(sha256(r.body)).toBe(sha256(body));
    });
    if (fe.chunkedUploads === undefined) return;
    // Past the front end's limit: its own refusal (not the app's); the next request is served.
    const refused = await request(fe.base(), '/echo', { method: 'POST', body: bytesOf(100_000, 78), chunkedPieces: 16_384 });
    const next = await request(fe.base(), '/info/after-refused-upload');
    check(fe, () => {
      expect(refused.status, show(refused)).toBe(400);
      expect(refused.body.toString('latin1')).toMatch(fe.chunkedUploads!.refusal);
      expect(next.status, show(next)).toBe(200);
      expect(JSON.parse(next.body.toString()).url).toBe('/info/after-refused-upload');
    });
  });

  test('a handler that answers without reading a 2 MiB request body; the next requests work', async () => {
    const body = bytesOf(2 * MiB, 9);
    const r = await request(fe.base(), '/info/unread', { method: 'POST', body });
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      expect(JSON.parse(r.body.toString()).url).toBe('/info/unread');
    });
    for (let i = 0; i < 3; i++) {
      const next = await request(fe.base(), `/info/next-${i}`);
      check(fe, () => {
        expect(next.status, show(next)).toBe(200);
        expect(JSON.parse(next.body.toString()).url).toBe(`/info/next-${i}`);
      });
    }
  });

  test('a 5 MiB response arrives byte-exact', async () => {
    const n = 5 * MiB;
    const r = await request(fe.base(), `/bytes?n=${n}`);
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      expect(r.body.length).toBe(n);
      expect(sha256(r.body)).toBe(sha256(bytesOf(n)));
    });
  });

  test('a streamed response: the first chunk arrives well before the last is written', async () => {
    const r = await request(fe.base(), '/stream');
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      const lines = r.body.toString().trim().split('\n');
      expect(lines.map((l) => l.replace(/ at \d+$/, ''))).toEqual(['chunk 0', 'chunk 1', 'chunk 2', 'chunk 3', 'chunk 4']);
      // The app writes a chunk every 50 ms: 200 ms from the first to the last.
      const first = r.pieces[0].at;
      expect(r.endedAt - first, `pieces: ${JSON.stringify(r.pieces.map((p) => [Math.round(p.at - r.sentAt), p.bytes]))}`)
        .toBeGreaterThanOrEqual(100);
    });
  });

  test('status 200, 204, 301 with Location, 404, 500', async () => {
    const ok = await request(fe.base(), '/info/ok');
    const none = await request(fe.base(), '/status/204');
    const moved = await request(fe.base(), '/status/301');
    const missing = await request(fe.base(), '/status/404');
    const failed = await request(fe.base(), '/status/500');
    check(fe, () => {
      expect(ok.status, show(ok)).toBe(200);
      expect(none.status, show(none)).toBe(204);
      expect(none.body.length).toBe(0);
      expect(moved.status, show(moved)).toBe(301);
      expect(moved.headers.location).toMatch(/^(http:\/\/127\.0\.0\.1(:\d+)?)?\/moved-here$/);
      expect(moved.body.toString()).toBe('moved\n');
      expect(missing.status, show(missing)).toBe(404);
      expect(missing.body.toString()).toBe('status 404\n');
      expect(failed.status, show(failed)).toBe(500);
      expect(failed.body.toString()).toBe('status 500\n');
    });
  });

  test('one kept-alive client connection: GET, 204, 304, streamed, POST, 404, GET, HEAD in a row', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const base = fe.base();
      const replies: Reply[] = [];
      const go = async (path: string, opts: Parameters<typeof request>[2] = {}): Promise<Reply> => {
        const r = await request(base, path, { ...opts, agent });
        replies.push(r);
        return r;
      };
      const get = await go('/info/ka-1');
      const none = await go('/status/204');
      const notModified = await go('/status/304');
      const streamed = await go('/stream');
      const body = bytesOf(70_000, 3);
      const posted = await go('/echo', { method: 'POST', body });
      const missing = await go('/status/404');
      const last = await go('/info/ka-2');
      // Last: Apache drops the app's Content-Length from a HEAD reply, and node's client then closes.
      const head = await go('/bytes?n=5000', { method: 'HEAD' });
      check(fe, () => {
        expect(get.status, show(get)).toBe(200);
        expect(head.status, show(head)).toBe(200);
        expect(head.body.length).toBe(0);
        expect(none.status, show(none)).toBe(204);
        expect(none.body.length).toBe(0);
        expect(notModified.status, show(notModified)).toBe(304);
        expect(notModified.body.length).toBe(0);
        expect(notModified.headers.etag).toBe('"v1"');
        expect(streamed.status, show(streamed)).toBe(200);
        expect(streamed.body.toString().trim().split('\n')).toHaveLength(5);
        expect(posted.status, show(posted)).toBe(200);
        expect(sha256(posted.body)).toBe(sha256(body));
        expect(missing.status, show(missing)).toBe(404);
        expect(last.status, show(last)).toBe(200);
        expect(JSON.parse(last.body.toString()).url).toBe('/info/ka-2');
        // Every response was framed right: one client connection carried them all. A front end that closes
        // after some responses (closesKeptAlive) may only do so after a response that says Connection: close.
        const ports = replies.map((r) => `${r.localPort} (${r.headers.connection})`).join(', ');
        const changes = replies.slice(1).filter((r, i) => r.localPort !== replies[i].localPort);
        const unannounced = replies.slice(1).filter((r, i) => r.localPort !== replies[i].localPort
          && replies[i].headers.connection !== 'close');
        if (fe.closesKeptAlive === undefined) expect(changes.length, `client ports ${ports}`).toBe(0);
        else expect(unannounced.length, `client ports ${ports} (${fe.closesKeptAlive})`).toBe(0);
      });
    } finally {
      agent.destroy();
    }
  });

  test('two Set-Cookie headers arrive as two', async () => {
    const r = await request(fe.base(), '/cookies');
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    });
  });

  test('HEAD has no body', async () => {
    const r = await request(fe.base(), '/bytes?n=1000', { method: 'HEAD' });
    const after = await request(fe.base(), '/info/after-head');
    check(fe, () => {
      expect(r.status, show(r)).toBe(200);
      expect(r.body.length).toBe(0);
      expect(after.status, show(after)).toBe(200);
      expect(JSON.parse(after.body.toString()).url).toBe('/info/after-head');
    });
  });

  test('a throwing handler gives 500, a rejecting one too, then a normal request succeeds', async () => {
    const thrown = await request(fe.base(), '/throw');
    const rejected = await request(fe.base(), '/reject');
    const after = await request(fe.base(), '/info/after-throw');
    check(fe, () => {
      expect(thrown.status, show(thrown)).toBe(500);
      expect(rejected.status, show(rejected)).toBe(500);
      expect(after.status, show(after)).toBe(200);
      expect(JSON.parse(after.body.toString()).url).toBe('/info/after-throw');
    });
  });

  test('50 concurrent requests are all answered correctly', async () => {
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => request(fe.base(), `/c?i=${i}`)));
    check(fe, () => {
      replies.forEach((r, i) => {
        expect(r.status, show(r)).toBe(200);
        expect(r.body.toString()).toBe(`c ${i}`);
      });
    });
  });

  test('a client that disconnects in the middle of a 20 MiB response; the app goes on serving', async () => {
    const before = await stats(fe);
    const n = 20 * MiB;
    const cut = await request(fe.base(), `/bytes?n=${n}&unbuffered`, { abortWhen: (got) => got >= MiB });
    expect(cut.status, show(cut)).toBe(200);
    expect(cut.body.length).toBeLessThan(n);
    // The response the client left ends on the app's side, one way or the other (finished into the web
    // server's buffers, or aborted): nothing stays in flight.
    let now = before;
    const settled = await waitFor(async () => {
      now = await stats(fe);
      return now.started === before.started + 1 && now.inFlight === 0;
    }, 10_000, 100);
    check(fe, () => {
      expect(settled, `stats before ${JSON.stringify(before)}, now ${JSON.stringify(now)}`).toBe(true);
    });
    const after = await request(fe.base(), '/bytes?n=100000');
    check(fe, () => {
      expect(after.status, show(after)).toBe(200);
      expect(sha256(after.body)).toBe(sha256(bytesOf(100000)));
    });
  });

  test('afterwards nothing is left in progress', async () => {
    if (fe.activeRequests === undefined) return;
    const idle = await waitFor(() => fe.activeRequests!() === 0, 5_000, 50);
    expect(idle, `activeRequests ${fe.activeRequests()}`).toBe(true);
  });
}
