/**
 * The PHP gateway holds PHP's body to the Content-Length PHP declared, as nginx does: more bytes would be
 * read by a keep-alive HTTP client as a second response (response splitting), fewer would leave it waiting.
 * A hand-made peer plays PHP-FPM.
 */
import { afterEach, expect, it } from 'vitest';
import { connect } from 'node:net';
import { gatewayOver } from './fake-peer.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

/** A gateway in front of a peer that answers `answer` (STDOUT, then END_REQUEST a little later). */
async function gatewayAnswering(answer: string): Promise<number> {
  return (await gatewayOver((r) => { r.stdout(answer); setTimeout(() => r.end(), 20); }, cleanups)).port;
}

/** Everything a raw HTTP/1.1 keep-alive client receives in `ms`, and whether the server closed. */
function exchange(port: number, ms: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    let closed = false;
    const c = connect(port, '127.0.0.1', () => c.write('GET /x.php HTTP/1.1\r\nHost: a\r\n\r\n'));
    c.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    c.on('close', () => { closed = true; });
    setTimeout(() => { c.destroy(); resolve({ text, closed }); }, ms);
  });
}

it('bytes past the declared Content-Length are not sent (no second response on a kept connection)', async () => {
  const port = await gatewayAnswering('Content-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Smuggled: yes\r\n\r\nspoofed');
  const { text } = await exchange(port, 400);
  expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(text.endsWith('\r\n\r\nhello')).toBe(true);
  expect(text).not.toContain('X-Smuggled');
});

it('a body shorter than the declared Content-Length ends the HTTP connection (the response cannot complete)', async () => {
  const port = await gatewayAnswering('Content-Length: 100\r\n\r\nshort');
  const { text, closed } = await exchange(port, 1500);
  expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(closed).toBe(true);
});

it('conflicting Content-Length values from PHP give 502', async () => {
  const port = await gatewayAnswering('Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!');
  const { text } = await exchange(port, 400);
  expect(text).toMatch(/^HTTP\/1\.1 502 /);
});

it('a body of exactly the declared length is passed whole', async () => {
  const port = await gatewayAnswering('Content-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello');
  const { text } = await exchange(port, 400);
  expect(text.endsWith('\r\n\r\nhello')).toBe(true);
  expect(text).toMatch(/\r\nContent-Length: 5\r\n/i);
});
