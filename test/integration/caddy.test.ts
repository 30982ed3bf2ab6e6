/**
 * Caddy with examples/Caddyfile (reverse_proxy, fastcgi transport: a connection per request, params in a
 * random order) to an in-process cgiwire FastCGI server on a unix socket, on each codec.
 */
import { describe } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { startCaddy } from '../helpers/servers.js';
import { inProcessFrontEnd } from './front.js';

describe.each(CODECS)('Caddy fastcgi transport (examples/Caddyfile) -> cgiwire FastCGI ($name codec)', { timeout: 60_000 }, ({ codec }) => {
  inProcessFrontEnd({
    protocol: 'fastcgi', codec, unix: true,
    start: ({ path }) => startCaddy({ appSocket: path! }), url: (caddy) => caddy.url,
  });
});
