/** Koa 3 with @koa/router and @koa/bodyparser, unchanged, on cgiwire behind nginx: `createServer(app.callback())`. */
import { Readable } from 'node:stream';
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { expect, test } from 'vitest';
import { createServer } from '../../lib/index.js';
import { bigChunks, foreverStats, foreverStream, frameworkSuite, listenLocal, plainHttp, sha256, until, walkAway } from './suite.js';

/** What Koa's 'error' event reported, except the /boom route's own error. */
const appErrors: string[] = [];

function buildApp(): Koa {
  const app = new Koa();
  const router = new Router();
  router.get('/users/:name', (ctx) => {
    ctx.body = { name: ctx.params.name, q: ctx.query.q, url: ctx.url };
  });
  router.post('/items', (ctx) => {
    const body = ctx.request.body as { title: string; n: number; pad: string };
    ctx.status = 201;
    ctx.body = { title: body.title, n: body.n, padLength: body.pad.length };
  });
  router.get('/boom', () => {
    throw new Error('boom');
  });
  router.get('/headers', (ctx) => {
    ctx.set('X-Custom', 'custom-value');
    ctx.cookies.set('a', '1', { httpOnly: false });
    ctx.cookies.set('b', 'two'); // httpOnly by default
    ctx.type = 'text/plain';
    ctx.body = 'hello';
  });
  router.get('/redirect', (ctx) => ctx.redirect('/users/x'));
  router.get('/moved', (ctx) => {
    ctx.status = 301;
    ctx.redirect('/users/y');
  });
  router.get('/big', (ctx) => {
    ctx.type = 'application/octet-stream';
    ctx.body = Readable.from(bigChunks());
  });
  router.get('/whoami', (ctx) => {
    ctx.body = { ip: ctx.ip, port: ctx.req.socket.remotePort, host: ctx.host, protocol: ctx.protocol };
  });
  router.post('/upload', async (ctx) => {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    ctx.body = { bytes: body.length, sha256: sha256(body) };
  });
  router.get('/forever', (ctx) => {
    ctx.type = 'application/octet-stream';
    ctx.body = foreverStream();
  });
  router.get('/early', (ctx) => {
    ctx.res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' }); // node:http's 103 Early Hints
    ctx.type = 'text/plain';
    ctx.body = 'hello';
  });
  app.use(bodyParser());
  app.use(router.routes()).use(router.allowedMethods());
  app.on('error', (err: Error & { code?: string }) => { if (err.message !== 'boom') appErrors.push(err.code ?? err.message); });
  return app;
}

frameworkSuite('Koa', {
  start: (codec) => listenLocal(createServer({ codec }, buildApp().callback())),
  notFound: { type: /^text\/plain/, body: /^Not Found$/ },
  serverError: { type: /^text\/plain/, body: /^Internal Server Error$/ },
  startPlain: () => plainHttp(buildApp().callback()),
  extra: (ctx) => {
    // Koa reports what it sees through app.on('error') (and logs it when nobody listens): a client that walks
    // away must give the same report as on node:http, where it is one ERR_STREAM_PREMATURE_CLOSE.
    async function errorsOnWalkAway(port: number): Promise<string[]> {
      const closed = foreverStats.closed;
      appErrors.length = 0;
      await walkAway(port);
      await until(() => foreverStats.closed > closed);
      await new Promise((r) => setTimeout(r, 100));
      return [...appErrors];
    }
    test('a client that walks away: Koa reports the same errors as on node:http', async () => {
      const direct = await errorsOnWalkAway(ctx().plain.port);
      expect(direct).toEqual(['ERR_STREAM_PREMATURE_CLOSE']);
      expect(await errorsOnWalkAway(ctx().nginx.port)).toEqual(direct);
    });
  },
});
