/**
 * Apache mod_proxy_fcgi (ProxyPass fcgi://, enablereuse=on) to an in-process cgiwire FastCGI server over TCP,
 * on each codec. examples.test.ts runs the same suite through examples/apache-proxy-fcgi.conf, on a unix socket.
 */
import { describe } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { startApache } from '../helpers/servers.js';
import { inProcessFrontEnd } from './front.js';

describe.each(CODECS)('Apache mod_proxy_fcgi -> cgiwire FastCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  inProcessFrontEnd({
    protocol: 'fastcgi', codec, reuse: 'enablereuse=on',
    start: ({ port }) => startApache({ fastcgiPort: port }), url: (apache) => apache.url,
  });
});
