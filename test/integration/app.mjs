/**
 * The application the integration tests put behind real web servers. Plain JavaScript with no import of the
 * library, so that both the in-process servers (lib/ sources through vitest) and the app lighttpd spawns
 * (spawned-app.mjs, on dist/) run the same handler.
 *
 * Routes:
 *   /info...          JSON: what the handler sees (method, url, headers, rawHeaders, socket addresses)
 *   /echo             reads the whole body, then sends it back (X-Body-Length, X-Body-Sha256)
 *   /bytes?n=N        N deterministic bytes (bytesOf), written in 64 KiB chunks honouring backpressure;
 *                     &unbuffered adds X-Accel-Buffering: no (nginx then passes the backpressure on)
 *   /stream           5 chunks, one every 50 ms, each "chunk I at MS\n"
 *   /status/CODE      that status (301 with Location, 204 and 304 with no body)
 *   /cookies          two Set-Cookie headers
 *   /throw            a handler that throws; /reject: one that rejects
 *   /c?i=N            "c N" after a short delay (for concurrency)
 *   /stats            JSON counters of the /bytes responses (started, finished, aborted, inFlight)
 */
import { createHash } from 'node:crypto';

export const stats = { started: 0, finished: 0, aborted: 0 };

/** N deterministic pseudo-random bytes (xorshift32), the same in the app and in the tests. */
export function bytesOf(n, seed = 0x9e3779b9) {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  for (; i < n; i++) out[i] = (i * 31) & 0xff;
  return out;
}

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function json(res, status, value) {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Writes `total` bytes of bytesOf(total) in 64 KiB pieces, waiting for 'drain'; stops if the response closes. */
async function sendBytes(res, total, unbuffered) {
  stats.started++;
  const data = bytesOf(total);
  let closed = false;
  res.on('close', () => {
    closed = true;
    if (res.writableFinished) stats.finished++;
    else stats.aborted++;
  });
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': total };
  // nginx: no response buffering, so that a client's disconnect reaches the app while it writes.
  if (unbuffered) headers['X-Accel-Buffering'] = 'no';
  res.writeHead(200, headers);
  const step = 65536;
  for (let at = 0; at < total && !closed; at += step) {
    if (!res.write(data.subarray(at, Math.min(total, at + step)))) {
      await new Promise((resolve) => {
        const go = () => { res.off('drain', go); res.off('close', go); resolve(); };
        res.on('drain', go);
        res.on('close', go);
      });
    }
  }
  if (!closed) res.end();
}

export function handler(req, res) {
  const url = new URL(req.url, 'http://app.invalid');
  const path = url.pathname;

  if (path.startsWith('/info')) {
    return json(res, 200, {
      method: req.method,
      url: req.url,
      decodedPath: decodeURIComponent(path),
      query: Object.fromEntries(url.searchParams),
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      remoteFamily: req.socket.remoteFamily,
      localPort: req.socket.localPort,
    });
  }

  if (path === '/echo') {
    return readBody(req).then((body) => {
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': body.length,
        'X-Body-Length': String(body.length),
        'X-Body-Sha256': sha256(body),
        'X-Request-Content-Length': String(req.headers['content-length'] ?? ''),
        'X-Request-Content-Type': String(req.headers['content-type'] ?? ''),
      });
      res.end(body);
    });
  }

  if (path === '/bytes') {
    return sendBytes(res, Number(url.searchParams.get('n') ?? 0), url.searchParams.has('unbuffered'));
  }

  if (path === '/stream') {
    return (async () => {
      const t0 = Date.now();
      res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Accel-Buffering': 'no' });
      for (let i = 0; i < 5; i++) {
        if (i > 0) await sleep(50);
        res.write(`chunk ${i} at ${Date.now() - t0}\n`);
      }
      res.end();
    })();
  }

  if (path.startsWith('/status/')) {
    const code = Number(path.slice('/status/'.length));
    if (code === 301) {
      res.writeHead(301, { Location: '/moved-here', 'Content-Type': 'text/plain' });
      return res.end('moved\n');
    }
    if (code === 304) {
      res.writeHead(304, { ETag: '"v1"' });
      return res.end();
    }
    if (code === 204) {
      res.writeHead(204);
      return res.end();
    }
    res.writeHead(code, { 'Content-Type': 'text/plain' });
    return res.end(`status ${code}\n`);
  }

  if (path === '/cookies') {
    res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    res.setHeader('Content-Type', 'text/plain');
    return res.end('cookies\n');
  }

  if (path === '/throw') throw new Error('the handler threw (on purpose)');
  if (path === '/reject') return Promise.reject(new Error('the handler rejected (on purpose)'));

  if (path === '/c') {
    const i = Number(url.searchParams.get('i') ?? 0);
    return sleep((i * 7) % 40).then(() => {
      res.setHeader('Content-Type', 'text/plain');
      res.end(`c ${i}`);
    });
  }

  if (path === '/stats') {
    return json(res, 200, { ...stats, inFlight: stats.started - stats.finished - stats.aborted });
  }

  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
}
