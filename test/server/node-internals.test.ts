import { createServer as createNetServer, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IncomingMessage, ServerResponse } from 'node:http';
import { emitResponseDrain, headersCountFound, quickAcker, responseDrainFlagFound, setRawHeadersCount, socketFd } from '../../lib/node-internals.js';
import { socketKind } from '../../lib/codec/native.js';

// lib/node-internals.ts is the only module that touches Node internals: these tests fail if Node moves them.
describe('ServerResponse kNeedDrain', () => {
  test('is found on this Node, and emitResponseDrain clears writableNeedDrain and emits drain', () => {
    expect(responseDrainFlagFound).toBe(true);
    const res = new ServerResponse(new IncomingMessage(null as never));
    const flag = Object.getOwnPropertySymbols(res).find((s) => s.description === 'kNeedDrain')!;
    (res as unknown as Record<symbol, boolean>)[flag] = true;
    expect(res.writableNeedDrain).toBe(true);
    let drains = 0;
    res.on('drain', () => drains++);
    emitResponseDrain(res);
    expect(res.writableNeedDrain).toBe(false);
    expect(drains).toBe(1);
  });
});

describe('IncomingMessage kHeadersCount', () => {
  test('is found on this Node, and setRawHeadersCount makes headersDistinct read rawHeaders', () => {
    expect(headersCountFound).toBe(true);
    const req = new IncomingMessage(null as never);
    req.rawHeaders = ['x-a', '1', 'host', 'h', 'x-a', '2'];
    setRawHeadersCount(req, req.rawHeaders.length);
    expect(req.headersDistinct).toEqual({ 'x-a': ['1', '2'], host: ['h'] });
  });
});

describe('socket file descriptors', () => {
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
