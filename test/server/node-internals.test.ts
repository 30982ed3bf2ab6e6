import { createServer as createNetServer, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { IncomingMessage, ServerResponse } from 'node:http';
import {
  emitResponseDrain, headersCountFound, isOwnHeaderMap, outHeadersFound, quickAcker, responseDrainFlagFound, setRawHeadersCount,
  socketFd, type StoredHead,
} from '../../lib/node-internals.js';
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

describe('ServerResponse head: _storeHeader and kOutHeaders', () => {
  test('writeHead and the implicit head of end() hand the status line and headers to _storeHeader; the two header forms are told apart', () => {
    expect(outHeadersFound).toBe(true);
    const calls: [string, boolean, unknown][] = [];
    const make = (): ServerResponse & StoredHead => {
      const res = new ServerResponse(new IncomingMessage(null as never)) as ServerResponse & StoredHead;
      res._storeHeader = function (this: ServerResponse & StoredHead, line: string, headers: unknown) {
        calls.push([line, isOwnHeaderMap(this, headers), headers]);
        this._header = 'stored';
      };
      return res;
    };
    make().writeHead(200, { 'X-A': '1' });
    const set = make();
    set.setHeader('X-B', '2');
    set.writeHead(201, { 'X-C': '3' });
    const implicit = make();
    implicit.statusCode = 404;
    implicit.end();
    expect(calls.map(([line, own]) => [line, own])).toEqual([
      ['HTTP/1.1 200 OK\r\n', false], ['HTTP/1.1 201 Created\r\n', true], ['HTTP/1.1 404 Not Found\r\n', false],
    ]);
    expect(calls[0][2]).toEqual({ 'X-A': '1' });
    // The map's entries keep the name as given: [name, value].
    expect(Object.values(calls[1][2] as object)).toEqual([['X-B', '2'], ['X-C', '3']]);
    expect(set.headersSent).toBe(true);
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
