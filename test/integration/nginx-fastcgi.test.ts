/**
 * nginx fastcgi_pass (upstream keepalive, fastcgi_keep_conn on) to an in-process cgiwire FastCGI server over
 * TCP, on each codec. examples.test.ts runs the same suite through examples/nginx-fastcgi.conf, on a unix socket.
 */
import { describe } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { startNginx } from '../helpers/servers.js';
import { inProcessFrontEnd } from './front.js';

describe.each(CODECS)('nginx fastcgi_pass -> cgiwire FastCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  inProcessFrontEnd({
    protocol: 'fastcgi', codec, reuse: 'keepalive, KEEP_CONN',
    start: ({ port }) => startNginx({ fastcgiPort: port }), url: (nginx) => nginx.urls.fastcgi!,
  });
});
