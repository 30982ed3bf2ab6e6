// The floor of bench/e2e.mjs: the least a Node process can do to answer nginx over FastCGI, with no HTTP
// objects and no general protocol handling. It frames records from each 'data' chunk (a record cut across
// chunks is joined), answers every request whose STDIN has ended with a fixed 12-byte "hello world" response
// and END_REQUEST in one write, and keeps the connection. What cgiwire spends above this is the price of its
// general machinery (params decoded, req/res like node:http's, limits, backpressure), not of Node or of the
// protocol. Not an application server: it ignores roles, params, bodies, management records and limits.
//
//   node bench/e2e/floor.mjs SOCKET_PATH     (prints "ready" once listening)
import { chmodSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';

const path = process.argv[2];
const HEAD_AND_BODY = Buffer.from('Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n', 'latin1');
const PAD = (8 - (HEAD_AND_BODY.length % 8)) % 8;

/** STDOUT with the response, the empty STDOUT, END_REQUEST (REQUEST_COMPLETE), for request `id`. */
function answer(id) {
  const out = Buffer.alloc(8 + HEAD_AND_BODY.length + PAD + 8 + 16);
  const header = (at, type, length, padding) => {
    out[at] = 1; out[at + 1] = type; out.writeUInt16BE(id, at + 2); out.writeUInt16BE(length, at + 4); out[at + 6] = padding;
  };
  header(0, 6, HEAD_AND_BODY.length, PAD);
  HEAD_AND_BODY.copy(out, 8);
  let at = 8 + HEAD_AND_BODY.length + PAD;
  header(at, 6, 0, 0);
  header(at + 8, 3, 8, 0);
  return out;
}

rmSync(path, { force: true });
createServer((socket) => {
  let rest = null;
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    if (rest !== null) { chunk = Buffer.concat([rest, chunk]); rest = null; }
    const answers = [];
    let at = 0;
    while (at + 8 <= chunk.length) {
      const type = chunk[at + 1], length = chunk.readUInt16BE(at + 4), end = at + 8 + length + chunk[at + 6];
      if (end > chunk.length) break;
      if (type === 5 && length === 0) answers.push(answer(chunk.readUInt16BE(at + 2))); // the empty STDIN
      at = end;
    }
    if (at < chunk.length) rest = Buffer.from(chunk.subarray(at));
    if (answers.length > 0) socket.write(answers.length === 1 ? answers[0] : Buffer.concat(answers));
  });
}).listen(path, () => {
  chmodSync(path, 0o666);
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => process.exit(0));
