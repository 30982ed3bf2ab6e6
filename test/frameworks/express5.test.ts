/** Express 5, unchanged, on cgiwire behind nginx: `createServer(app)`. */
import express from 'express';
import { expect, test } from 'vitest';
import { createServer } from '../../lib/index.js';
import { EXPRESS_EXPECT, buildExpressApp, expressExtras } from './express-app.js';
import { fetchVia, frameworkSuite, listenLocal, plainHttp } from './suite.js';

function app(): any {
  const a = buildExpressApp(express);
  // Express 5 routes a rejected promise to the error handler.
  a.get('/boom-async', async () => {
    await new Promise((r) => setTimeout(r, 1));
    throw new Error('async boom');
  });
  return a;
}

frameworkSuite('Express 5', {
  start: (codec) => listenLocal(createServer({ codec }, app())),
  startPlain: () => plainHttp(app()),
  ...EXPRESS_EXPECT,
  extra: (ctx) => {
    expressExtras!(ctx);
    test('an async route that rejects gets the framework 500', async () => {
      const r = await fetchVia(ctx().nginx.port, 'GET', '/boom-async');
      expect(r.status).toBe(500);
      expect(r.text()).toMatch(/Error: async boom/);
    });
  },
});
