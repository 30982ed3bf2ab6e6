/** Express 4, unchanged, on cgiwire behind nginx: `createServer(app)`. */
import express from 'express4';
import { createServer } from '../../lib/index.js';
import { EXPRESS_EXPECT, buildExpressApp, expressExtras } from './express-app.js';
import { frameworkSuite, listenLocal, plainHttp } from './suite.js';

frameworkSuite('Express 4', {
  start: (codec) => listenLocal(createServer({ codec }, buildExpressApp(express))),
  startPlain: () => plainHttp(buildExpressApp(express)),
  ...EXPRESS_EXPECT,
  extra: expressExtras,
});
