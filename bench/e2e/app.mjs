// One contender of bench/e2e.mjs: the same node:http-style handler served by cgiwire (FastCGI or SCGI), by
// node:http, or by the npm package node-fastcgi. One process; prints "ready" on stdout once listening.
//
//   node bench/e2e/app.mjs KIND ADDRESS [quickack=off]
//   KIND: cgiwire-fastcgi | cgiwire-scgi | node-http | node-fastcgi
//   ADDRESS: a unix socket path, or a TCP port on 127.0.0.1
//
// The routes are in handler.mjs.
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { handler } from './handler.mjs';

const [kind, address, ...flags] = process.argv.slice(2);

let server;
if (kind === 'cgiwire-fastcgi' || kind === 'cgiwire-scgi') {
  const { createServer } = await import('../../dist/index.js');
  // quickack=off: no TCP_QUICKACK while a body arrives (cgiwire's default is on; the bench compares the two)
  server = createServer({ protocol: kind === 'cgiwire-scgi' ? 'scgi' : 'fastcgi', quickAck: !flags.includes('quickack=off') }, handler);
} else if (kind === 'node-http') {
  const http = await import('node:http');
  server = http.createServer(handler);
  server.keepAliveTimeout = 65_000; // longer than nginx's upstream keepalive_timeout (60 s): nginx closes first
} else if (kind === 'node-fastcgi') {
  const require = createRequire(new URL('./package.json', import.meta.url));
  server = require('node-fastcgi').createServer(handler);
} else {
  console.error(`unknown kind ${kind}`);
  process.exit(2);
}

server.on('error', (err) => { console.error(`${kind}: ${err.message}`); process.exit(1); });
const ready = () => {
  // The bench's folder is private; nginx's workers (nobody when nginx runs as root) must reach the socket.
  if (!/^\d+$/.test(address)) chmodSync(address, 0o666);
  process.stdout.write('ready\n');
};
if (/^\d+$/.test(address)) server.listen(Number(address), '127.0.0.1', ready);
else server.listen(address, ready);

// The bench stops contenders with SIGTERM; exit at once (with --cpu-prof the profile is written on exit).
process.on('SIGTERM', () => process.exit(0));
