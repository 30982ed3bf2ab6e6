#!/usr/bin/env node
// Reads a captured FastCGI or SCGI byte stream (what a web server sent to an application) with cgiwire's
// codec and prints each request as the HTTP layer will see it. Usage:
//   node examples/decode-capture.mjs test/fixtures/nginx-fastcgi-get-browser.bin
import { readFileSync } from 'node:fs';
import { codec, codecName, RecordType } from '../dist/index.js';

const file = process.argv[2] ?? new URL('../test/fixtures/nginx-fastcgi-get-browser.bin', import.meta.url);
const bytes = readFileSync(file);
console.log(`codec: ${codecName}; ${bytes.length} bytes from ${file}`);

function show(head, bodyBytes) {
  console.log(`  ${head.method} ${head.url}`);
  for (const [name, value] of Object.entries(head.headers)) console.log(`    ${name}: ${value}`);
  console.log(`  body: ${bodyBytes} bytes`);
}

if (/^\d+:/.test(bytes.subarray(0, 12).toString('latin1'))) {
  const reader = codec.createNetstringReader();
  const bodyAt = reader.push(bytes);
  if (typeof bodyAt !== 'number' || bodyAt < 0) throw bodyAt;
  const { head, contentLength } = codec.decodeScgiHeader(reader.header);
  console.log(`SCGI request, CONTENT_LENGTH ${contentLength}`);
  show(head, bytes.length - bodyAt);
} else {
  const requests = new Map(); // request id -> { params: Buffer[], body, paramsDone, shown }
  const reader = codec.createRecordReader((type, id, buf, offset, length) => {
    if (type === RecordType.BEGIN_REQUEST) requests.set(id, { params: [], body: 0 });
    const r = requests.get(id);
    if (r === undefined) return;
    if (type === RecordType.PARAMS && length > 0) r.params.push(buf.subarray(offset, offset + length));
    if (type === RecordType.STDIN) r.body += length;
    if (type === RecordType.PARAMS && length === 0) r.paramsDone = true;
    const ended = (type === RecordType.STDIN && length === 0) || type === RecordType.END_REQUEST;
    if (ended && !r.shown) {
      r.shown = true;
      const params = Buffer.concat(r.params);
      console.log(`FastCGI request ${id}`);
      show(codec.decodeParams(params).head, r.body);
    }
  });
  const err = reader.push(bytes);
  if (err) throw err;
  for (const [id, r] of requests) {
    if (!r.shown && r.paramsDone) {
      console.log(`FastCGI request ${id} (no STDIN: an AUTHORIZER request)`);
      show(codec.decodeParams(Buffer.concat(r.params)).head, 0);
    }
  }
}
