/**
 * The backpressure policy (bodyBufferBytes), raw socket: a request whose handler does not read its body
 * holds at most bodyBufferBytes (plus one socket chunk) of it; the other requests on its connection go on
 * meanwhile; once the handler reads, the body arrives byte-exact.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PS, begin, cgiParams, params, parseCgi, sleep, stdin, until,
} from '../helpers/fcgi-client.js';
import { deferred, startRouted, stopAll } from './setup.js';
import { createServer, type CgiRequest } from '../../lib/index.js';

afterEach(stopAll);

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const SOCKET_CHUNK = 64 * 1024;

describe('backpressure (bodyBufferBytes)', () => {
  it('bodyBufferBytes is a buffer size: Infinity, NaN and values below 1 are refused up front', () => {
    for (const bad of [Infinity, NaN, 0, 0.5, -1]) {
      expect(() => createServer({ bodyBufferBytes: bad }, () => {})).toThrow(RangeError);
    }
    expect(() => createServer({ bodyBufferBytes: 1000.5 }, () => {})).not.toThrow();
  });

  it.each([32 * 1024, 65536])('bodyBufferBytes %i: an unread 1 MiB body stays bounded, a small request beside it completes, then the body arrives byte-exact', async (bodyBufferBytes) => {
    const release = deferred();
    let reqA: CgiRequest | undefined;
    let maxHeld = 0;
    const sample = (): void => { if (reqA) maxHeld = Math.max(maxHeld, reqA.readableLength); };
    const r = await startRouted({ bodyBufferBytes }, {
      '/a': async (req, res) => {
        reqA = req;
        await release.promise;
        const hash = createHash('sha256');
        let n = 0;
        for await (const c of req) { hash.update(c as Buffer); n += (c as Buffer).length; }
        res.end(`${n} ${hash.digest('hex')}`);
      },
      '/b': async (req, res) => {
        sample();
        const parts: Buffer[] = [];
        for await (const c of req) parts.push(c as Buffer);
        sample();
        res.end(Buffer.concat(parts));
      },
    });
    const c = await r.client();
    const a = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < a.length; i++) a[i] = (i * 7 + (i >>> 10)) & 0xff;
    const bBody = Buffer.from('small body of B');
    c.send(begin(1), params(1, cgiParams('/a', { CONTENT_LENGTH: String(a.length) }, 'POST')));
    c.send(stdin(1, a.subarray(0, 8192), false, 8192));
    c.send(begin(2), params(2, cgiParams('/b', { CONTENT_LENGTH: String(bBody.length) }, 'POST')));
    c.send(stdin(1, a.subarray(8192, 16384), false, 8192));
    c.send(stdin(2, bBody.subarray(0, 5), false));
    c.send(stdin(1, a.subarray(16384, 24576), false, 8192));
    c.send(stdin(2, bBody.subarray(5)));
    // The rest of A's body, in records of various sizes: the server must stop reading at some point.
    c.send(stdin(1, a.subarray(24576, 300_000), false, 65535));
    c.send(stdin(1, a.subarray(300_000), true, 32768));

    const resB = await c.response(2, 3000);
    expect(resB.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    expect(parseCgi(resB.stdout).body.equals(bBody)).toBe(true);
    expect(reqA).toBeDefined();
    // While A is not read, what it holds stays bounded; sample over a while.
    for (let i = 0; i < 20; i++) { sample(); await sleep(10); }
    expect(maxHeld).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThanOrEqual(bodyBufferBytes + SOCKET_CHUNK);
    expect(c.partial(1)?.events ?? []).toEqual([]);

    release.resolve();
    const resA = await c.response(1, 5000);
    expect(resA.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    expect(parseCgi(resA.stdout).body.toString()).toBe(`${a.length} ${sha(a)}`);
    expect(maxHeld).toBeLessThanOrEqual(bodyBufferBytes + SOCKET_CHUNK);
  });

  it('a request that starts after the connection stopped reading is taken once the holder reads', async () => {
    const release = deferred();
    let reqA: CgiRequest | undefined;
    const r = await startRouted({ bodyBufferBytes: 16384 }, {
      '/a': async (req, res) => {
        reqA = req;
        await release.promise;
        let n = 0;
        for await (const ch of req) n += (ch as Buffer).length;
        res.end(String(n));
      },
    });
    const c = await r.client();
    const a = Buffer.alloc(512 * 1024, 'a');
    c.send(begin(1), params(1, cgiParams('/a', { CONTENT_LENGTH: String(a.length) }, 'POST')), stdin(1, a, true, 16384));
    c.send(begin(2), params(2, cgiParams('/b', { CONTENT_LENGTH: '3' }, 'POST')), stdin(2, 'bbb'));
    await until(() => reqA !== undefined, 2000, 'handler A running');
    await sleep(100);
    expect(reqA!.readableLength).toBeLessThanOrEqual(16384 + SOCKET_CHUNK);
    release.resolve();
    expect(parseCgi((await c.response(1, 5000)).stdout).body.toString()).toBe(String(a.length));
    expect(parseCgi((await c.response(2, 5000)).stdout).body.toString()).toBe('bbb');
  });
});
