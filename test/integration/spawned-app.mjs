/**
 * The application a web server spawns (lighttpd mod_fastcgi `bin-path`): fd 0 is the listening socket, so
 * listen() takes no address (spawn mode). Runs on the built package (dist/; the tests build it when stale).
 */
import { codecName, createServer } from '../../dist/index.js';
import { handler } from './app.mjs';

const server = createServer(handler);
// The server answers 500 itself; this only keeps the log short.
server.on('handlerError', (err) => process.stderr.write(`spawned-app: handler error: ${err && err.message}\n`));
server.on('error', (err) => {
  process.stderr.write(`spawned-app: ${err && err.stack}\n`);
  process.exit(1);
});
server.listen(() => {
  process.stderr.write(`spawned-app: pid ${process.pid} serving fd 0, codec ${codecName}\n`);
});
// The web server stops its children with SIGTERM (lighttpd) or closes fd 0.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
