import { createServer as createNetServer, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { quickAcker, socketFd } from '../../lib/socket-fd.js';
import { socketKind } from '../../lib/codec/native.js';

// lib/socket-fd.ts reads net.Socket's `_handle.fd`, the one Node internal cgiwire uses: these tests fail
// if a Node release moves it.
describe('socket file descriptors (the one Node internal in use)', () => {
  let server: ReturnType<typeof createNetServer>;
  let accepted: Promise<Socket>;
  let client: Socket;
  beforeAll(async () => {
    server = createNetServer();
    accepted = new Promise((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    client = connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
  });
  afterAll(async () => {
    client.destroy();
    (await accepted).destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  test('an accepted TCP socket has a numeric fd that the kernel calls a connected socket', async () => {
    const fd = socketFd(await accepted);
    expect(typeof fd).toBe('number');
    expect(socketKind(fd!)).toBe('connected');
  });

  test('TCP_QUICKACK can be set on an accepted TCP socket', async () => {
    const ack = quickAcker(await accepted);
    expect(ack).not.toBeNull();
    expect(() => ack!()).not.toThrow();
  });

  test('a socket with no handle gives no fd rather than a guess', () => {
    expect(socketFd({} as Socket)).toBeUndefined();
  });
});
