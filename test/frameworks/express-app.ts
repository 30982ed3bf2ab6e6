/**
 * The Express app both Express suites run (Express 4 as `express4`, Express 5 as `express`): plain Express,
 * nothing cgiwire-specific; the suites mount it with `createServer(app)`.
 */
import { fileURLToPath } from 'node:url';
import { Readable, pipeline } from 'node:stream';
import { expect, test } from 'vitest';
import { bigChunks, fetchVia, foreverStream, sha256, type FrameworkSpec } from './suite.js';

export const STATIC_DIR = fileURLToPath(new URL('./fixtures/', import.meta.url));
const HELLO = 'hello from a static file\n';

// Typed loosely: the same code runs on Express 4 and 5.
export function buildExpressApp(express: any): any {
  const app = express();
  app.use(express.json());
  app.use('/static', express.static(STATIC_DIR));

  app.get('/users/:name', (req: any, res: any) => {
    res.json({ name: req.params.name, q: req.query.q, url: req.originalUrl });
  });
  app.post('/items', (req: any, res: any) => {
    res.status(201).json({ title: req.body.title, n: req.body.n, padLength: req.body.pad.length });
  });
  app.get('/boom', () => {
    throw new Error('boom');
  });
  app.get('/headers', (_req: any, res: any) => {
    res.set('X-Custom', 'custom-value');
    res.cookie('a', '1');
    res.cookie('b', 'two', { httpOnly: true });
    res.type('text/plain').send('hello');
  });
  app.get('/redirect', (_req: any, res: any) => res.redirect('/users/x'));
  app.get('/moved', (_req: any, res: any) => res.redirect(301, '/users/y'));
  app.get('/big', (_req: any, res: any) => {
    res.type('application/octet-stream');
    Readable.from(bigChunks()).pipe(res);
  });
  app.get('/whoami', (req: any, res: any) => {
    res.json({ ip: req.ip, port: req.socket.remotePort, host: req.get('host'), protocol: req.protocol });
  });
  app.post('/upload', express.raw({ limit: '5mb' }), (req: any, res: any) => {
    res.json({ bytes: req.body.length, sha256: sha256(req.body) });
  });
  app.get('/forever', (_req: any, res: any) => {
    res.type('application/octet-stream');
    pipeline(foreverStream(), res, () => { /* the client left */ });
  });
  app.get('/early', (_req: any, res: any) => {
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }); // node:http's 103 Early Hints
    res.type('text/plain').send('hello');
  });
  app.get('/download', (_req: any, res: any) => {
    res.download(STATIC_DIR + 'hello.txt', 'report ü.txt');
  });
  return app;
}

export const EXPRESS_EXPECT: Pick<FrameworkSpec, 'notFound' | 'serverError' | 'diffPaths'> = {
  diffPaths: ['/static/hello.txt', '/download'],
  notFound: { type: /^text\/html/, body: /Cannot GET \/missing/ },
  // NODE_ENV is 'test' under vitest: finalhandler shows the stack.
  serverError: { type: /^text\/html/, body: /Error: boom/ },
};

/**
 * express.static (send): ETag/Last-Modified, a conditional 304, a Range 206, HEAD, and res.download, whose
 * Content-Disposition must be what the same app gives on plain node:http (Express 4 and 5 spell it apart).
 */
export const expressExtras: FrameworkSpec['extra'] = (ctx) => {
  test('express.static: 200 with validators, then 304 on If-None-Match', async () => {
    const { nginx } = ctx();
    const r = await fetchVia(nginx.port, 'GET', '/static/hello.txt');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; charset=utf-8$/i);
    expect(r.headers['content-length']).toBe(String(HELLO.length));
    expect(r.headers['last-modified']).toBeTruthy();
    expect(r.text()).toBe(HELLO);
    const etag = r.headers.etag!;
    expect(etag).toMatch(/^W\/"/);
    const c = await fetchVia(nginx.port, 'GET', '/static/hello.txt', undefined, { 'if-none-match': etag });
    expect(c.status).toBe(304);
    expect(c.body.length).toBe(0);
  });

  test('express.static: Range gives 206 with Content-Range', async () => {
    const { nginx } = ctx();
    const r = await fetchVia(nginx.port, 'GET', '/static/hello.txt', undefined, { range: 'bytes=6-9' });
    expect(r.status).toBe(206);
    expect(r.headers['content-range']).toBe(`bytes 6-9/${HELLO.length}`);
    expect(r.text()).toBe('from');
  });

  test('express.static: HEAD has the length and no body', async () => {
    const { nginx } = ctx();
    const r = await fetchVia(nginx.port, 'HEAD', '/static/hello.txt');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(HELLO.length));
    expect(r.body.length).toBe(0);
  });

  test('res.download: attachment with an RFC 5987 file name', async () => {
    const { nginx } = ctx();
    const r = await fetchVia(nginx.port, 'GET', '/download');
    expect(r.status).toBe(200);
    const plain = await fetchVia(ctx().plain.port, 'GET', '/download');
    expect(plain.headers['content-disposition']).toMatch(/^attachment; filename=/);
    expect(r.headers['content-disposition']).toBe(plain.headers['content-disposition']);
    expect(r.text()).toBe(HELLO);
  });
};
