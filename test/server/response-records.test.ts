/**
 * How a response goes out on the wire (raw socket): a small response written in one tick leaves in one write,
 * header block, body and end; a header block whose body comes later leaves on its own when the tick ends;
 * STDERR keeps its own stream; a large body arrives whole after the head. Both codecs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CODECS } from '../helpers/codecs.js';
import { parseCgi, request, sleep, until } from '../helpers/fcgi-client.js';
import { startRouted, stopAll } from './setup.js';

afterEach(stopAll);

describe.each(CODECS)('response records ($name codec)', ({ codec }) => {
  it('writeHead and end(Buffer) in one tick: head, body and end leave in one write', async () => {
    const r = await startRouted({ codec }, {
      '/': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '2' });
        res.end(Buffer.from('hi'));
      },
    });
    const c = await r.client();
    c.send(request(1, { keepConn: true }));
    const res = await c.response(1);
    expect(res.events.slice(-2)).toEqual(['out-end', 'end']);
    expect(c.received).toHaveLength(1);
    const cgi = parseCgi(res.stdout);
    expect(cgi.status).toBe(200);
    expect(cgi.body.toString()).toBe('hi');
  });

  it('string bodies in their encoding, written in the same tick as the head, leave with it in one write', async () => {
    const r = await startRouted({ codec }, {
      '/': (_req, res) => {
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.write('h\u00e9');
        res.end('\u2713');
      },
    });
    const c = await r.client();
    c.send(request(1, { keepConn: true }));
    const res = await c.response(1);
    expect(res.events.slice(-2)).toEqual(['out-end', 'end']);
    expect(c.received).toHaveLength(1);
    expect(parseCgi(res.stdout).body.toString('utf8')).toBe('h\u00e9\u2713');
  });

  it('a head whose body comes later goes out when the tick ends, before the body is written', async () => {
    let finish: () => void = () => {};
    const r = await startRouted({ codec }, {
      '/': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.flushHeaders();
        finish = () => res.end('later');
      },
    });
    const c = await r.client();
    c.send(request(1, { keepConn: true }));
    await until(() => (c.partial(1)?.events.length ?? 0) > 0, 2000, 'the head');
    await sleep(20);
    const early = c.partial(1)!;
    expect(early.events).toEqual(['out']);
    expect(early.stdout.toString('latin1')).toMatch(/^Status: 200 OK\r\n.*\r\n\r\n$/s);
    finish();
    const res = await c.response(1);
    expect(res.events).toEqual(['out', 'out', 'out-end', 'end']);
    expect(parseCgi(res.stdout).body.toString()).toBe('later');
  });

  it('STDERR written between the head and the end keeps its own stream; the STDOUT bytes are whole', async () => {
    const r = await startRouted({ codec }, {
      '/': (_req, res) => {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        (res as unknown as { stderr: NodeJS.WritableStream }).stderr.write('logged\n');
        res.end('missing\n');
      },
    });
    const c = await r.client();
    c.send(request(1, { keepConn: true }));
    const res = await c.response(1);
    expect(res.stderr.toString()).toBe('logged\n');
    expect(res.stderrEnded).toBe(true);
    expect(res.stdoutEnded).toBe(true);
    const cgi = parseCgi(res.stdout);
    expect(cgi.status).toBe(404);
    expect(cgi.body.toString()).toBe('missing\n');
    expect(res.events.at(-1)).toBe('end');
  });

  it('a body too large to hold is framed as before, after the head, byte-exact', async () => {
    const big = Buffer.alloc(100_000, 'abcdefgh');
    const r = await startRouted({ codec }, {
      '/': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(big.length) });
        res.end(big);
      },
    });
    const c = await r.client();
    c.send(request(1, { keepConn: true }));
    const res = await c.response(1);
    expect(res.events[0]).toBe('out');
    expect(res.events.slice(-2)).toEqual(['out-end', 'end']);
    expect(parseCgi(res.stdout).body.equals(big)).toBe(true);
  });
});
