/**
 * Fastify 5, unchanged, on cgiwire behind nginx through its documented `serverFactory`, started with
 * `fastify.listen()` as the docs show.
 */
import { Readable } from 'node:stream';
import Fastify from 'fastify';
import { createServer, type Server } from '../../lib/index.js';
import { bigChunks, foreverStream, frameworkSuite, sha256 } from './suite.js';

function buildApp(serverFactory?: (handler: any, opts: any) => any) {
  const fastify = serverFactory ? Fastify({ serverFactory }) : Fastify();
  fastify.get<{ Params: { name: string }; Querystring: { q: string } }>('/users/:name', async (request) => {
    return { name: request.params.name, q: request.query.q, url: request.url };
  });
  fastify.post<{ Body: { title: string; n: number; pad: string } }>('/items', async (request, reply) => {
    reply.code(201);
    return { title: request.body.title, n: request.body.n, padLength: request.body.pad.length };
  });
  fastify.get('/boom', async () => {
    throw new Error('boom');
  });
  fastify.get('/headers', (_request, reply) => {
    reply.header('X-Custom', 'custom-value');
    reply.header('set-cookie', 'a=1; Path=/');
    reply.header('set-cookie', 'b=two; Path=/; HttpOnly');
    reply.type('text/plain; charset=utf-8').send('hello');
  });
  fastify.get('/redirect', (_request, reply) => reply.redirect('/users/x'));
  fastify.get('/moved', (_request, reply) => reply.redirect('/users/y', 301));
  fastify.get('/big', (_request, reply) => {
    reply.type('application/octet-stream').send(Readable.from(bigChunks()));
  });
  fastify.get('/whoami', async (request) => {
    return { ip: request.ip, port: request.socket.remotePort, host: request.host, protocol: request.protocol };
  });
  fastify.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: 5 * 1024 * 1024 },
    (_request, body, done) => done(null, body));
  fastify.post<{ Body: Buffer }>('/upload', async (request) => {
    return { bytes: request.body.length, sha256: sha256(request.body) };
  });
  fastify.get('/forever', (_request, reply) => {
    reply.type('application/octet-stream').send(foreverStream());
  });
  fastify.get('/early', async (_request, reply) => {
    reply.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    reply.type('text/plain; charset=utf-8');
    return 'hello';
  });
  return fastify;
}

frameworkSuite('Fastify', {
  async start(codec) {
    const fastify = buildApp((handler) => createServer({ codec }, handler));
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    return { server: fastify.server as unknown as Server, close: () => fastify.close() };
  },
  async startPlain() {
    const fastify = buildApp();
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    return { port: (fastify.server.address() as { port: number }).port, close: () => fastify.close() };
  },
  notFound: { type: /^application\/json/, body: /"message":"Route GET:\/missing not found","error":"Not Found","statusCode":404/ },
  serverError: { type: /^application\/json/, body: /"statusCode":500,.*"error":"Internal Server Error","message":"boom"/ },
});
