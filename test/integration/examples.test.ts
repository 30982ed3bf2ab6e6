/**
 * The configs in examples/ for nginx, Apache and lighttpd, run as written (only their addresses replaced; see
 * exampleConfig): nginx and Apache in front of the in-process app on a unix socket with the suite every front end
 * gets, on both codecs; lighttpd and Apache's mod_fcgid starting examples/app.mjs themselves (spawn mode), as
 * their examples do.
 * h2o, HAProxy and Caddy have their own files.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import {
  startApacheExample, startApacheFcgidExample, startLighttpdExample, startNginxExample, type WebServer,
} from '../helpers/servers.js';
import { request } from './client.js';
import { inProcessFrontEnd } from './front.js';

describe.each(CODECS)('nginx fastcgi_pass (examples/nginx-fastcgi.conf) -> cgiwire FastCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  inProcessFrontEnd({
    protocol: 'fastcgi', codec, unix: true, reuse: 'keepalive 16, fastcgi_keep_conn on',
    start: ({ path }) => startNginxExample({ file: 'nginx-fastcgi.conf', appSocket: path! }), url: (nginx) => nginx.url,
  });
});

describe.each(CODECS)('nginx scgi_pass (examples/nginx-scgi.conf) -> cgiwire SCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  inProcessFrontEnd({
    protocol: 'scgi', codec, unix: true,
    start: ({ path }) => startNginxExample({ file: 'nginx-scgi.conf', appSocket: path! }), url: (nginx) => nginx.url,
  });
});

describe.each(CODECS)('Apache mod_proxy_fcgi (examples/apache-proxy-fcgi.conf) -> cgiwire FastCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  inProcessFrontEnd({
    protocol: 'fastcgi', codec, unix: true, reuse: 'enablereuse=on',
    start: ({ path }) => startApacheExample({ appSocket: path! }), url: (apache) => apache.url,
  });
});

const SPAWNING: [string, () => Promise<WebServer>][] = [
  ['lighttpd (examples/lighttpd-fastcgi.conf)', () => startLighttpdExample({ file: 'lighttpd-fastcgi.conf' })],
  ['lighttpd (examples/lighttpd-scgi.conf)', () => startLighttpdExample({ file: 'lighttpd-scgi.conf' })],
  ['Apache mod_fcgid (examples/apache-fcgid.conf)', startApacheFcgidExample],
];

describe.each(SPAWNING)('%s starting examples/app.mjs itself', { timeout: 60_000 }, (_name, startWeb) => {
  let web: WebServer;
  beforeAll(async () => { web = await startWeb(); }, 30_000);
  afterAll(async () => { await web?.stop(); }, 30_000);

  test('GET /hello and a 300 KB POST /echo come back from the app the web server started', async () => {
    const hello = await request(web.url, '/hello');
    expect(hello.status, web.logs()).toBe(200);
    expect(hello.body.toString()).toBe('hello\n');
    const body = Buffer.alloc(300_000, 'cgiwire ');
    const echo = await request(web.url, '/echo', { method: 'POST', body });
    expect(echo.status, web.logs()).toBe(200);
    expect(echo.body.toString()).toBe(`${body.length} bytes, sha256 ${createHash('sha256').update(body).digest('hex')}\n`);
    const page = await request(web.url, '/?q=1');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('/?q=1');
  });
});
