/**
 * Hono 4, unchanged, on cgiwire behind nginx: `createServer(getRequestListener(app.fetch))`, as
 * @hono/node-server documents for node:http's createServer.
 */
import { Hono } from 'hono';
import { setCookie } from 'hono/cookie';
import { stream } from 'hono/streaming';
import { getRequestListener } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { earlyHints } from '@hono/node-server/early-hints';
import { createServer } from '../../lib/index.js';
import { FOREVER_CHUNK, bigChunks, foreverStats, frameworkSuite, listenLocal, plainHttp, sha256 } from './suite.js';

function buildApp(): Hono {
  const app = new Hono();
  app.get('/users/:name', (c) => {
    const u = new URL(c.req.url);
    return c.json({ name: c.req.param('name'), q: c.req.query('q'), url: u.pathname + u.search });
  });
  app.post('/items', async (c) => {
    const body = await c.req.json<{ title: string; n: number; pad: string }>();
    return c.json({ title: body.title, n: body.n, padLength: body.pad.length }, 201);
  });
  app.get('/boom', () => {
    throw new Error('boom');
  });
  app.get('/headers', (c) => {
    c.header('X-Custom', 'custom-value');
    setCookie(c, 'a', '1', { path: '/' });
    setCookie(c, 'b', 'two', { path: '/', httpOnly: true });
    return c.text('hello');
  });
  app.get('/redirect', (c) => c.redirect('/users/x'));
  app.get('/moved', (c) => c.redirect('/users/y', 301));
  app.get('/big', (c) => {
    c.header('Content-Type', 'application/octet-stream');
    return stream(c, async (s) => {
      for (const chunk of bigChunks()) await s.write(chunk);
    });
  });
  app.get('/whoami', (c) => {
    const info = getConnInfo(c);
    const u = new URL(c.req.url);
    return c.json({ ip: info.remote.address, port: info.remote.port, host: u.host, protocol: u.protocol.slice(0, -1) });
  });
  app.post('/upload', async (c) => {
    const body = new Uint8Array(await c.req.arrayBuffer());
    return c.json({ bytes: body.length, sha256: sha256(body) });
  });
  app.get('/forever', (c) => {
    c.header('Content-Type', 'application/octet-stream');
    return stream(c, async (s) => {
      foreverStats.started++;
      s.onAbort(() => { foreverStats.closed++; });
      while (!s.aborted) {
        await s.write(FOREVER_CHUNK);
        await s.sleep(2);
      }
    });
  });
  app.get('/early', earlyHints({ link: '</style.css>; rel=preload; as=style' }), (c) => c.text('hello'));
  return app;
}

frameworkSuite('Hono', {
  start: (codec) => listenLocal(createServer({ codec }, getRequestListener(buildApp().fetch))),
  startPlain: () => plainHttp(getRequestListener(buildApp().fetch)),
  notFound: { type: /^text\/plain/, body: /^404 Not Found$/ },
  serverError: { type: /^text\/plain/, body: /^Internal Server Error$/ },
});
