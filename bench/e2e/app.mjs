// One contender of bench/e2e.mjs: the same node:http-style handler served by cgiwire (FastCGI or SCGI), by
// node:http, or by the npm package node-fastcgi. One process; prints "ready" on stdout once listening.
//
//   node bench/e2e/app.mjs KIND ADDRESS [quickack=off]
//   KIND: cgiwire-fastcgi | cgiwire-scgi | node-http | node-fastcgi
//   ADDRESS: a unix socket path, or a TCP port on 127.0.0.1
//
// Routes: GET /small (12 bytes of text), GET /1m (1 MiB), POST /upload (reads the whole body, answers its size).
// Every response carries Content-Length, so no contender pays for chunking that another does not.
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';

const [kind, address, ...flags] = process.argv.slice(2);
const SMALL = Buffer.from('hello world\n');
const BIG = Buffer.alloc(1 << 20, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
const TEXT = { 'Content-Type': 'text/plain' };

function handler(req, res) {
  const url = req.url;
  if (url === '/small') {
    res.writeHead(200, { ...TEXT, 'Content-Length': SMALL.length });
    res.end(SMALL);
  } else if (url === '/1m') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': BIG.length });
    res.end(BIG);
  } else if (url === '/upload') {
    let n = 0;
    req.on('data', (chunk) => { n += chunk.length; });
    req.on('end', () => {
      const body = `ok ${n}\n`;
      res.writeHead(200, { ...TEXT, 'Content-Length': body.length });
      res.end(body);
    });
  } else {
    res.writeHead(404, { ...TEXT, 'Content-Length': 10 });
    res.end('not found\n');
  }
}

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
