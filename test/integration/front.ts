/**
 * One describe block per web server in front of an in-process cgiwire server: starts both, runs the shared
 * front-end suite, and checks what every such front end shares (connection reuse where it keeps connections,
 * no protocol errors on the app side).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Codec } from '../../lib/index.js';
import { tempDir, type WebServer } from '../helpers/servers.js';
import { request } from './client.js';
import { startApp, type AppServer } from './inprocess.js';
import { frontEndSuite, type FrontEnd } from './suite.js';

export interface InProcessFrontEnd<W extends WebServer> extends Pick<FrontEnd, 'chunkedUploads' | 'closesKeptAlive'> {
  protocol: 'fastcgi' | 'scgi';
  codec: Codec;
  /** Starts the web server in front of the app (its TCP port, or its unix socket with `unix`). */
  start(app: { port: number; path?: string }): Promise<W>;
  /** The app listens on a unix socket instead of a TCP port. */
  unix?: boolean;
  /** The web server's base URL for this protocol. */
  url(web: W): string;
  /** When set, the name of the setting that keeps upstream connections (the reuse test runs). */
  reuse?: string;
}

export function inProcessFrontEnd<W extends WebServer>(fe: InProcessFrontEnd<W>): void {
  let app: AppServer;
  let web: W;
  let socketDir: string | undefined;

  beforeAll(async () => {
    let path: string | undefined;
    if (fe.unix) {
      socketDir = tempDir('app'); // the web server's workers may run as another user
      path = join(socketDir, 'app.sock');
    }
    app = await startApp({ protocol: fe.protocol }, fe.codec, path);
    web = await fe.start(app);
  }, 30_000);

  afterAll(async () => {
    await web?.stop();
    await app?.close();
    if (socketDir !== undefined) rmSync(socketDir, { recursive: true, force: true });
  }, 30_000);

  frontEndSuite({
    base: () => fe.url(web),
    logs: () => web.logs(),
    activeRequests: () => app.server.activeRequests,
    chunkedUploads: fe.chunkedUploads,
    closesKeptAlive: fe.closesKeptAlive,
  });

  if (fe.reuse !== undefined) {
    test(`sequential requests reuse the upstream connection (${fe.reuse})`, async () => {
      let connections = 0;
      const count = (): void => { connections++; };
      app.server.on('connection', count);
      try {
        for (let i = 0; i < 20; i++) {
          const r = await request(fe.url(web), `/info/reuse-${i}`);
          expect(r.status).toBe(200);
        }
      } finally {
        app.server.off('connection', count);
      }
      expect(connections).toBeLessThanOrEqual(2);
    });
  }

  test('no protocol errors on the app side', () => {
    expect(app.protocolErrors.map((e) => e.message)).toEqual([]);
  });
}
