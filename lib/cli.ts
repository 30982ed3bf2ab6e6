/**
 * The `cgiwire` command: `serve` a Node app over FastCGI or SCGI, send one `request` to a FastCGI or SCGI
 * application and print its response as CGI, ask an application for its `get-values`.
 * bin/cgiwire.js calls {@link main}; tests may call it in-process with their own streams.
 */
import cluster, { type Worker } from 'node:cluster';
import { chmodSync, createReadStream, fstatSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  Client, ScgiClient, codecName, createServer, formatAddress, isListeningSocketFd, parseAddress,
  requestParams, type Address, type Server,
} from './index.js';
import { prepareSocketPath } from './server.js';
import { timerMs } from './options.js';
import type { CgiRequest, CgiResponse } from './http/index.js';

/** Where the command reads and writes; the process's own streams unless a caller gives others. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  /** Read only for `request -d -`. */
  stdin: Readable;
  /** Module paths and `-d @file` are relative to it. */
  cwd: string;
}

// ---------------------------------------------------------------------------------------------- usage

const USAGE = `Usage: cgiwire <command> [options]

Commands:
  serve <module>           serve a Node app over FastCGI or SCGI
  request <addr> <path>    send one request to a FastCGI or SCGI application and print the response
  get-values <addr>        ask a FastCGI application what it allows (FCGI_GET_VALUES)

Options:
  -h, --help               this help; cgiwire <command> --help for a command's
  -V, --version            the version

An address is host:port, [v6]:port, a port (on 127.0.0.1), or a unix socket path (with a "/", or unix:name).
Exit status: 0 done, 1 failed, 2 usage error, 22 a status >= 400 with request --fail.
`;

const SERVE_USAGE = `Usage: cgiwire serve <module> [--fastcgi ADDR | --scgi ADDR] [options]

Serves the default export of <module> (a path from the current directory): a request handler (req, res)
such as an Express app, an app with callback() (Koa), or an app with fetch(request) (Hono).

  --fastcgi ADDR          listen for FastCGI on ADDR (the default protocol)
  --scgi ADDR             listen for SCGI on ADDR
                          ADDR: host:port, a port, a unix socket path; port 0 picks a free port;
                          "-" or no address: the listening socket passed as fd 0 (spawn mode: lighttpd
                          bin-path, Apache mod_fcgid, h2o fastcgi.spawn, spawn-fcgi)
  --workers N             run N processes (node:cluster) sharing the socket (TCP, unix path or fd 0);
                          default 1: no cluster. A worker that dies is restarted, at most 5 times in
                          10 s; when 3 workers in a row die before they listen, cgiwire stops (exit 1)
  --unix-mode MODE        permissions of the unix socket file, in octal (e.g. 660)
  --drain-timeout MS      on SIGTERM or SIGINT, stop accepting and let requests in progress run this long
                          before aborting them, then exit 0 (default 10000); a second signal exits at once
  -h, --help              this help

Prints one line to stderr when listening and one when drained. SIGTERM to a worker recycles it.
`;

const REQUEST_USAGE = `Usage: cgiwire request <addr> <path> [options]

Sends one request to the FastCGI (or SCGI) application at <addr> and prints its response on stdout as
cgi-fcgi does: "Status: 200 OK", the headers, a blank line (CRLF line ends), then the body bytes as sent.
The application's STDERR goes to stderr.

  -X, --request METHOD    the method (default GET, or POST with -d)
  -H, --header 'N: v'     a request header, passed as HTTP_N (repeatable)
  -d, --data DATA         the body: the text DATA, @file (streamed, its size as CONTENT_LENGTH),
                          or - for stdin (FastCGI streams it, with no CONTENT_LENGTH unless stdin is a file)
      --param NAME=VALUE  set or replace a CGI param (repeatable), e.g. SCRIPT_FILENAME=/srv/www/index.php
      --scgi              speak SCGI instead of FastCGI
      --timeout MS        longest wait for the connection and for each piece of the response
                          (default 60000; 0: no limit once connected)
  -i, --include           print the header block and the body (the default; as curl -i)
      --body-only         print the body only
      --fail              exit 22, printing nothing on stdout, when the status is 400 or more (as curl -f)
  -v, --verbose           print the params sent, and a summary line at the end, on stderr
  -h, --help              this help

Params sent: the standard CGI params of the request (headers as HTTP_*; Proxy dropped), SCRIPT_NAME and
DOCUMENT_URI (the path without its query), then every --param.
Exit status: 0 when a response arrived (whatever its status), 1 on a failure, 2 on a usage error.
`;

const GET_VALUES_USAGE = `Usage: cgiwire get-values <addr> [NAME...] [--timeout MS] [--json]

Asks the FastCGI application at <addr> what it allows (FCGI_GET_VALUES): by default FCGI_MAX_CONNS,
FCGI_MAX_REQS and FCGI_MPXS_CONNS. Prints NAME=VALUE lines.

      --timeout MS        longest wait for the connection and for the answer (default 5000)
      --json              print a JSON object instead
  -h, --help              this help
`;

const USAGES: Record<string, string> = { serve: SERVE_USAGE, request: REQUEST_USAGE, 'get-values': GET_VALUES_USAGE };

/** A mistake in the command line: exit status 2 with the usage of `command`. */
class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

/** A failure with a message of its own: exit status 1. */
class Failure extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * Runs the command line `argv` (without node and the script) and resolves with the exit status. `serve`
 * resolves only once the server has drained, and then ends the process.
 */
export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const out: CliIo = {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    get stdin() { return io.stdin ?? process.stdin; },
    cwd: io.cwd ?? process.cwd(),
  };
  const command = argv[0];
  try {
    if (command === undefined) throw new UsageError('no command given');
    if (command === '-h' || command === '--help' || command === 'help') {
      const topic = command === 'help' ? argv[1] : undefined;
      out.stdout.write(topic !== undefined && topic in USAGES ? USAGES[topic] : USAGE);
      return 0;
    }
    if (command === '-V' || command === '--version') {
      out.stdout.write(`${version()}\n`);
      return 0;
    }
    const rest = argv.slice(1);
    if (command === 'serve') return await serve(rest, argv, out);
    if (command === 'request') return await request(rest, out);
    if (command === 'get-values') return await getValues(rest, out);
    throw new UsageError(command.startsWith('-') ? `unknown option ${command}` : `unknown command ${JSON.stringify(command)}`);
  } catch (err) {
    if (err instanceof UsageError) {
      out.stderr.write(`cgiwire: ${err.message}\n\n${err.command !== undefined ? USAGES[err.command] : USAGE}`);
      return 2;
    }
    out.stderr.write(`cgiwire: ${describe(err)}\n`);
    return 1;
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** `code: message` of an error, for one line on stderr. */
function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${typeof code === 'string' ? code : err.name}: ${err.message}`;
  }
  return `Error: ${String(err)}`;
}

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs, strict, with positionals; its errors are usage errors of `command`. */
function parse<const O extends OptionSpec>(command: string, args: string[], options: O) {
  const config = { args, options: { ...options, help: { type: 'boolean', short: 'h' } } as O & { help: { type: 'boolean'; short: 'h' } },
    allowPositionals: true, strict: true } as const;
  try {
    return parseArgs(config);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) throw new UsageError((err as Error).message, command);
    throw err;
  }
}

/** A whole number from an option's text, at least `min`. */
function integer(command: string, name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`--${name} must be a whole number of at least ${min}; got ${JSON.stringify(text)}`, command);
  }
  return Number(text);
}

/**
 * The address in `text`, the option as typed; `parsed` is what to parse instead (serve's stand-in for
 * port 0). A usage error names `text`, never the stand-in, and adds the socket-path hint only when the
 * text is no host:port and no port (it may have been meant as a path).
 */
function address(command: string, text: string, parsed = text): Address {
  try {
    return parseAddress(parsed);
  } catch (err) {
    const message = (err as Error).message.replace(JSON.stringify(parsed), JSON.stringify(text));
    const hint = /:|^\s*\d+\s*$/.test(text) ? '' : ' (a socket path needs a "/", e.g. ./app.sock)';
    throw new UsageError(message + hint, command);
  }
}

// ---------------------------------------------------------------------------------------------- serve

type Handler = (req: CgiRequest, res: CgiResponse) => unknown;

/** Where `serve` listens. */
type Target = { kind: 'tcp'; host: string; port: number } | { kind: 'path'; path: string } | { kind: 'fd' };

interface ServeConfig {
  module: string;
  protocol: 'fastcgi' | 'scgi';
  target: Target;
  workers: number;
  mode: number | undefined;
  drainTimeout: number;
}

function serveConfig(args: string[], io: CliIo): ServeConfig | null {
  const { values, positionals } = parse('serve', args, {
    fastcgi: { type: 'string' },
    scgi: { type: 'string' },
    workers: { type: 'string' },
    'unix-mode': { type: 'string' },
    'drain-timeout': { type: 'string' },
  });
  if (values.help) {
    io.stdout.write(SERVE_USAGE);
    return null;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'serve needs a module' : `serve takes one module; got ${positionals.join(' ')}`, 'serve');
  }
  if (values.fastcgi !== undefined && values.scgi !== undefined) throw new UsageError('give --fastcgi or --scgi, not both', 'serve');
  const protocol = values.scgi !== undefined ? 'scgi' : 'fastcgi';
  const text = values.scgi ?? values.fastcgi;
  let target: Target;
  if (text === undefined || text === '-') {
    if (!isListeningSocketFd(0)) {
      throw new UsageError(text === undefined
        ? 'no address to listen on: give --fastcgi ADDR or --scgi ADDR, or start cgiwire with a listening socket as fd 0 (spawn mode)'
        : 'fd 0 is not a listening socket (spawn mode needs one)', 'serve');
    }
    target = { kind: 'fd' };
  } else {
    target = listenTarget(text);
  }
  let mode: number | undefined;
  if (values['unix-mode'] !== undefined) {
    if (!/^[0-7]{3,4}$/.test(values['unix-mode'])) throw new UsageError(`--unix-mode must be octal permissions such as 660; got ${JSON.stringify(values['unix-mode'])}`, 'serve');
    if (target.kind !== 'path') throw new UsageError('--unix-mode is for a unix socket path', 'serve');
    mode = parseInt(values['unix-mode'], 8);
  }
  return {
    module: positionals[0],
    protocol,
    target,
    workers: integer('serve', 'workers', values.workers, 1, 1),
    mode,
    drainTimeout: integer('serve', 'drain-timeout', values['drain-timeout'], 10_000, 0),
  };
}

/** A listening address: as a client's, except that port 0 (any free port) is allowed. */
function listenTarget(text: string): Target {
  const t = text.trim();
  const anyPort = /^0+$/.test(t) || (/:0+$/.test(t) && !t.includes('/') && !t.startsWith('unix:'));
  // Port 0 is parsed as port 1, which the client's rules allow.
  const a = address('serve', text, anyPort ? (/^0+$/.test(t) ? '1' : t.replace(/:0+$/, ':1')) : text);
  return a.path !== undefined ? { kind: 'path', path: a.path } : { kind: 'tcp', host: a.host, port: anyPort ? 0 : a.port };
}

async function serve(args: string[], argv: string[], io: CliIo): Promise<number> {
  const config = serveConfig(args, io);
  if (config === null) return 0;
  // A worker forked by servePrimary (not any cluster worker that happens to call main()).
  if (cluster.isWorker && process.env.CGIWIRE_CLUSTER_WORKER === '1') {
    delete process.env.CGIWIRE_CLUSTER_WORKER;
    return serveWorker(config, io);
  }
  if (config.workers > 1) return servePrimary(config, argv, io);
  return serveAlone(config, io);
}

/** Imports the module and makes a request handler of its default export. */
async function loadApp(module: string, cwd: string): Promise<Handler> {
  const url = pathToFileURL(resolvePath(cwd, module)).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url) as Record<string, unknown>;
  } catch (err) {
    throw new Failure((err as { code?: string }).code ?? 'ERR_CGIWIRE_APP_LOAD', `cannot load ${module}: ${(err as Error)?.message ?? String(err)}`);
  }
  const app = mod.default !== undefined ? mod.default : mod.handler;
  if (typeof app === 'function') return app as Handler;
  if (app !== null && typeof app === 'object') {
    const a = app as { callback?: unknown; fetch?: unknown };
    if (typeof a.callback === 'function') return (a.callback as () => Handler).call(app);
    if (typeof a.fetch === 'function') return fetchHandler(app as FetchApp);
  }
  throw new Failure('ERR_CGIWIRE_APP_EXPORT', `the default export of ${module} is not a request handler (req, res), ` +
    'an app with callback() (Koa) or an app with fetch(request) (Hono)');
}

interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

/** A web-standard app (fetch(Request) => Response) as a (req, res) handler. */
function fetchHandler(app: FetchApp): Handler {
  return async (req, res) => {
    const headers = new Headers();
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
    const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    const url = new URL(req.url ?? '/', `${scheme}://${req.headers.host ?? 'localhost'}`);
    const method = req.method ?? 'GET';
    const body = method === 'GET' || method === 'HEAD' ? undefined : Readable.toWeb(req) as ReadableStream;
    const init: RequestInit & { duplex?: 'half' } = { method, headers, body, signal: req.signal };
    if (body !== undefined) init.duplex = 'half';
    const response = await app.fetch(new Request(url, init));
    res.statusCode = response.status;
    for (const [name, value] of response.headers) if (name !== 'set-cookie') res.setHeader(name, value);
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) res.setHeader('set-cookie', cookies);
    if (response.body === null) res.end();
    else await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), res);
  };
}

/** Starts listening on the target; resolves on 'listening', rejects on the first 'error'. */
function listen(server: Server, target: Target, mode: number | undefined, inCluster: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { server.off('listening', onListening); reject(err); };
    const onListening = (): void => { server.off('error', onError); resolve(); };
    server.once('error', onError);
    server.once('listening', onListening);
    if (target.kind === 'fd') server.listen();
    else if (target.kind === 'tcp') server.listen({ port: target.port, host: target.host });
    // In a cluster worker the primary owns the socket and applies the mode.
    else server.listen({ path: target.path, mode: inCluster ? undefined : mode });
  });
}

/** The address a server listens on, for the listening line. */
function listeningText(server: Server, target: Target): string {
  const a = server.address();
  const text = a === null ? '?' : typeof a === 'string' ? a : formatAddress({ host: (a as AddressInfo).address, port: (a as AddressInfo).port });
  if (target.kind === 'fd') return `fd 0 (${text})`;
  return target.kind === 'path' ? target.path : text;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** After the server drained, the process ends even if the app keeps something open (a pool, a timer). */
function exitSoon(code: number): void {
  setTimeout(() => process.exit(code), 1000).unref();
}

/** One process: listen, serve, drain on SIGTERM/SIGINT. */
async function serveAlone(config: ServeConfig, io: CliIo): Promise<number> {
  // A signal while the app loads (or the socket opens) is kept, and acted on once that is done: it must not
  // kill the process with the signal's default action, which would report a failure (exit 143).
  let early: NodeJS.Signals | null = null;
  const onEarlySignal = (signal: NodeJS.Signals): void => { early ??= signal; };
  process.on('SIGTERM', onEarlySignal);
  process.on('SIGINT', onEarlySignal);
  let server: Server;
  try {
    const handler = await loadApp(config.module, io.cwd);
    server = createServer({ protocol: config.protocol }, handler);
    if (early === null) await listen(server, config.target, config.mode, false);
  } finally {
    process.off('SIGTERM', onEarlySignal);
    process.off('SIGINT', onEarlySignal);
  }
  let served = 0;
  server.on('request', () => { served++; });
  if (early !== null) {
    if (server.listening) server.close();
    io.stderr.write(`cgiwire: ${early as NodeJS.Signals} while starting: stopped, 0 requests served\n`);
    exitSoon(0);
    return 0;
  }
  server.on('error', (err: Error) => io.stderr.write(`cgiwire: ${describe(err)}\n`));
  io.stderr.write(`cgiwire: serving ${config.module} over ${config.protocol} on ${listeningText(server, config.target)} ` +
    `(pid ${process.pid}, codec ${codecName})\n`);
  const code = await new Promise<number>((resolve) => {
    let draining = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (draining) {
        io.stderr.write(`cgiwire: ${signal} again: exiting with ${plural(server.activeRequests, 'request')} in progress\n`);
        process.exit(1);
      }
      draining = true;
      io.stderr.write(`cgiwire: ${signal}: draining ${plural(server.activeRequests, 'request')} in progress\n`);
      server.close({ timeout: config.drainTimeout }, () => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        io.stderr.write(`cgiwire: drained, ${plural(served, 'request')} served\n`);
        resolve(0);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  exitSoon(code);
  return code;
}

/** Messages between the primary and its workers. */
type WorkerMessage = { cgiwire: 'listening'; address: string } | { cgiwire: 'draining' } | { cgiwire: 'drained'; requests: number };

function send(message: WorkerMessage, then?: () => void): void {
  try {
    process.send!(message, undefined, {}, () => then?.());
  } catch {
    then?.();
  }
}

/** A cluster worker: listen through the primary, report, drain when told to (or on its own SIGTERM). */
async function serveWorker(config: ServeConfig, io: CliIo): Promise<number> {
  const prefix = `cgiwire: worker ${process.pid}:`;
  let handler: Handler;
  let server: Server;
  try {
    handler = await loadApp(config.module, io.cwd);
    server = createServer({ protocol: config.protocol }, handler);
    await listen(server, config.target, undefined, true);
  } catch (err) {
    io.stderr.write(`${prefix} ${describe(err)}\n`);
    process.exit(1);
  }
  let served = 0;
  server.on('request', () => { served++; });
  server.on('error', (err: Error) => io.stderr.write(`${prefix} ${describe(err)}\n`));
  let draining = false;
  const drain = (): void => {
    if (draining) return;
    draining = true;
    send({ cgiwire: 'draining' });
    server.close({ timeout: config.drainTimeout }, () => send({ cgiwire: 'drained', requests: served }, () => process.exit(0)));
  };
  process.on('message', (m: unknown) => { if ((m as { cgiwire?: unknown })?.cgiwire === 'drain') drain(); });
  process.on('SIGTERM', drain);
  process.on('SIGINT', () => { /* the primary hears it too and tells the workers */ });
  send({ cgiwire: 'listening', address: listeningText(server, config.target) });
  return new Promise<number>(() => { /* the worker ends with process.exit */ });
}

const RESTART_LIMIT = 5;
const RESTART_WINDOW = 10_000;
/**
 * Once a worker has listened, this many workers in a row dying before they listen stop the primary
 * (exit 1). The rate limit alone misses replacements that fail slowly (an app load that times out after
 * seconds): they would be restarted for ever.
 */
const FAILED_START_LIMIT = 3;

/** The cluster primary: forks the workers, restarts those that die, drains them all on SIGTERM/SIGINT. */
async function servePrimary(config: ServeConfig, argv: string[], io: CliIo): Promise<number> {
  const target = config.target;
  if (target.kind === 'path') {
    try {
      await prepareSocketPath(target.path);
    } catch (err) {
      throw new Failure('EADDRINUSE', (err as Error).message);
    }
  }
  const exec = fileURLToPath(new URL('../bin/cgiwire.js', import.meta.url));
  cluster.setupPrimary({ exec: existsFile(exec) ? exec : process.argv[1], args: argv });

  return new Promise<number>((resolve) => {
    const state = new Map<number, { listened: boolean; recycled: boolean }>();
    const restarts: number[] = [];
    /** Workers that died before listening since one last reported listening. */
    let failedStarts = 0;
    let anyListened = false;
    let announced = false;
    let draining = false;
    /** This process got SIGTERM or SIGINT (a second one kills). */
    let signalled = false;
    let exitCode = 0;
    let served = 0;
    let safety: NodeJS.Timeout | null = null;

    /**
     * Asks a worker to drain. One the same signal already ended (Ctrl-C and systemd signal the whole group)
     * fails the send with EPIPE: a callback takes that error, which would otherwise end the primary; the
     * worker's 'exit' follows.
     */
    const tellDrain = (w: Worker): void => {
      if (w.isConnected()) w.send({ cgiwire: 'drain' }, () => {});
    };
    const fork = (): Worker => {
      const w = cluster.fork({ CGIWIRE_CLUSTER_WORKER: '1' });
      state.set(w.id, { listened: false, recycled: false });
      return w;
    };
    const finish = (): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
      if (safety !== null) clearTimeout(safety);
      if (exitCode === 0) io.stderr.write(`cgiwire: drained, ${plural(served, 'request')} served\n`);
      exitSoon(exitCode);
      resolve(exitCode);
    };
    const stopAll = (code: number): void => {
      exitCode = Math.max(exitCode, code);
      if (draining) return;
      draining = true;
      for (const w of Object.values(cluster.workers ?? {})) if (w !== undefined) tellDrain(w);
      safety = setTimeout(() => {
        io.stderr.write('cgiwire: workers still running after the drain timeout: killing them\n');
        exitCode = 1;
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      }, timerMs(config.drainTimeout + 5000));
      safety.unref();
      if (state.size === 0) finish();
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      // A second signal to this process kills; the first drains (a drain already begun goes on).
      if (signalled) {
        io.stderr.write(`cgiwire: ${signal} again: killing the workers\n`);
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
        process.exit(1);
      }
      signalled = true;
      if (draining) return;
      io.stderr.write(`cgiwire: ${signal}: draining ${plural(state.size, 'worker')}\n`);
      stopAll(0);
    };
    const onMessage = (worker: Worker, m: WorkerMessage): void => {
      const s = state.get(worker.id);
      if (s === undefined || m === null || typeof m !== 'object') return;
      if (m.cgiwire === 'listening') {
        // A worker still loading when the drain began had no handler for the 'drain' sent then, and lost
        // it: tell it again now that it listens (drain() in the worker is idempotent).
        if (draining) {
          tellDrain(worker);
          return;
        }
        s.listened = true;
        failedStarts = 0;
        if (!anyListened && config.mode !== undefined && target.kind === 'path') {
          try {
            chmodSync(target.path, config.mode);
          } catch (err) {
            io.stderr.write(`cgiwire: ${describe(err)}\n`);
          }
        }
        anyListened = true;
        if (!announced && [...state.values()].filter((x) => x.listened).length >= config.workers) {
          announced = true;
          io.stderr.write(`cgiwire: serving ${config.module} over ${config.protocol} on ${m.address} ` +
            `(pid ${process.pid}, ${config.workers} workers, codec ${codecName})\n`);
        }
      } else if (m.cgiwire === 'draining') {
        s.recycled = true;
      } else if (m.cgiwire === 'drained') {
        served += m.requests;
      }
    };
    const onExit = (worker: Worker, code: number | null, signal: string | null): void => {
      const s = state.get(worker.id);
      state.delete(worker.id);
      if (draining) {
        // A worker that dies while it drains may have lost requests: the exit says so. One ended by SIGTERM or
        // SIGINT (the group's signal while it was loading) had none.
        const stopped = signal === 'SIGTERM' || signal === 'SIGINT' || (signal === null && code === 0);
        if (!stopped && exitCode === 0) {
          io.stderr.write(`cgiwire: worker ${worker.process.pid} died (${signal !== null ? `signal ${signal}` : `code ${code}`}) while draining\n`);
          exitCode = 1;
        }
        if (state.size === 0) finish();
        return;
      }
      const how = signal !== null ? `signal ${signal}` : `code ${code}`;
      // Ended by SIGTERM or SIGINT while loading (no handler of its own yet): a stop meant for the whole
      // group (Ctrl-C, systemd), whose signal may reach this process a moment later. Not a failed start.
      if (!s?.listened && (signal === 'SIGTERM' || signal === 'SIGINT')) {
        io.stderr.write(`cgiwire: worker ${worker.process.pid} stopped by ${signal} while loading: draining\n`);
        stopAll(0);
        return;
      }
      if (!anyListened) {
        io.stderr.write(`cgiwire: worker ${worker.process.pid} exited (${how}) before listening; stopping\n`);
        stopAll(1);
        return;
      }
      if (!s?.listened && ++failedStarts >= FAILED_START_LIMIT) {
        io.stderr.write(`cgiwire: worker ${worker.process.pid} exited (${how}) before listening; ` +
          `${FAILED_START_LIMIT} workers in a row did: stopping\n`);
        stopAll(1);
        return;
      }
      const now = Date.now();
      if (s?.recycled) {
        fork();
        return;
      }
      while (restarts.length > 0 && now - restarts[0] > RESTART_WINDOW) restarts.shift();
      if (restarts.length >= RESTART_LIMIT) {
        io.stderr.write(`cgiwire: worker ${worker.process.pid} died (${how}); ${RESTART_LIMIT} restarts in ${RESTART_WINDOW / 1000} s already: not restarting it\n`);
        if (state.size === 0) {
          exitCode = 1;
          draining = true;
          finish();
        }
        return;
      }
      restarts.push(now);
      const w = fork();
      io.stderr.write(`cgiwire: worker ${worker.process.pid} died (${how}); restarted as ${w.process.pid}\n`);
    };
    cluster.on('message', onMessage);
    cluster.on('exit', onExit);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    for (let i = 0; i < config.workers; i++) fork();
  });
}

function existsFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

// -------------------------------------------------------------------------------------------- request

interface Body {
  body: Buffer | Readable | undefined;
  /** null: not known up front. */
  length: number | null;
}

/** -d TEXT, -d @file, -d -: the body and its length when known. */
async function requestBody(data: string | undefined, scgi: boolean, io: CliIo): Promise<Body> {
  if (data === undefined) return { body: undefined, length: null };
  if (data.startsWith('@')) {
    const path = resolvePath(io.cwd, data.slice(1));
    let size: number | null;
    try {
      const st = statSync(path);
      if (st.isDirectory()) throw Object.assign(new Error(`${data.slice(1)} is a directory`), { code: 'EISDIR' });
      size = st.isFile() ? st.size : null;
    } catch (err) {
      throw new Failure((err as { code?: string }).code ?? 'ENOENT', `cannot read ${data.slice(1)}: ${(err as Error).message}`);
    }
    const stream = createReadStream(path);
    if (size === null && scgi) return readAll(stream);
    return { body: stream, length: size };
  }
  if (data === '-') {
    const stdin = io.stdin;
    let size: number | null = null;
    if (stdin === process.stdin) {
      try {
        const st = fstatSync(0);
        if (st.isFile()) size = st.size;
      } catch { /* not a file */ }
    }
    if (size === null && scgi) return readAll(stdin);
    return { body: stdin, length: size };
  }
  const bytes = Buffer.from(data, 'utf8');
  return { body: bytes, length: bytes.length };
}

async function readAll(stream: Readable): Promise<Body> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer);
  const body = Buffer.concat(parts);
  return { body, length: body.length };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

async function request(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('request', args, {
    request: { type: 'string', short: 'X' },
    header: { type: 'string', short: 'H', multiple: true },
    data: { type: 'string', short: 'd' },
    param: { type: 'string', multiple: true },
    scgi: { type: 'boolean' },
    timeout: { type: 'string' },
    include: { type: 'boolean', short: 'i' },
    'body-only': { type: 'boolean' },
    fail: { type: 'boolean' },
    verbose: { type: 'boolean', short: 'v' },
  });
  if (values.help) {
    io.stdout.write(REQUEST_USAGE);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError('request needs an address and a path, e.g. cgiwire request 127.0.0.1:9000 /index.php', 'request');
  if (values.include && values['body-only']) throw new UsageError('give --include or --body-only, not both', 'request');
  const addr = address('request', positionals[0]);
  const path = positionals[1].startsWith('/') ? positionals[1] : `/${positionals[1]}`;
  const method = values.request ?? (values.data !== undefined ? 'POST' : 'GET');
  if (!TOKEN.test(method)) throw new UsageError(`bad method ${JSON.stringify(method)}`, 'request');
  const rawHeaders: string[] = [];
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':');
    const name = colon > 0 ? h.slice(0, colon).trim() : '';
    if (!TOKEN.test(name)) throw new UsageError(`a header is "Name: value"; got ${JSON.stringify(h)}`, 'request');
    rawHeaders.push(name, h.slice(colon + 1).trim());
  }
  const overrides: [string, string][] = [];
  for (const p of values.param ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`a param is NAME=VALUE; got ${JSON.stringify(p)}`, 'request');
    overrides.push([p.slice(0, eq), p.slice(eq + 1)]);
  }
  const timeout = integer('request', 'timeout', values.timeout, 60_000, 0);
  const scgi = values.scgi === true;

  const { body, length } = await requestBody(values.data, scgi, io);
  const q = path.indexOf('?');
  const script = q === -1 ? path : path.slice(0, q);
  const params = requestParams({ method, url: path, rawHeaders, contentLength: length });
  params.push(['SCRIPT_NAME', script], ['DOCUMENT_URI', script]);
  for (const [name, value] of overrides) {
    const at = params.findIndex(([n]) => n === name);
    if (at === -1) params.push([name, value]);
    else {
      params[at] = [name, value];
      for (let i = params.length - 1; i > at; i--) if (params[i][0] === name) params.splice(i, 1);
    }
  }
  if (values.verbose) for (const [n, v] of params) io.stderr.write(`> ${n}=${v}\n`);

  const common = { address: addr, timeout, connectTimeout: timeout > 0 ? timeout : 5000, maxStderrBytes: 0 };
  const client = scgi ? new ScgiClient(common) : new Client({ ...common, multiplex: false });
  client.on('stderr', (chunk: Buffer) => io.stderr.write(chunk));
  const started = performance.now();
  try {
    const res = await client.request({ params, body, timeout });
    if (values.fail && res.status >= 400) {
      res.body.resume();
      await new Promise<void>((resolve) => { res.body.once('end', resolve); res.body.once('close', resolve); });
      io.stderr.write(`cgiwire: the application answered ${res.status} ${res.statusText}`.trimEnd() + '\n');
      return 22;
    }
    if (!values['body-only']) {
      let head = `Status: ${res.status} ${res.statusText}`.trimEnd() + '\r\n';
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) head += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`;
      io.stdout.write(Buffer.from(head + '\r\n', 'latin1'));
    }
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) { bytes += chunk.length; cb(null, chunk); },
    });
    try {
      await pipeline(res.body, count, io.stdout, { end: false });
    } catch (err) {
      // Whoever reads our output stopped (| head): not the application's failure.
      if ((err as { code?: string }).code === 'EPIPE') return 0;
      throw err;
    }
    if (values.verbose) {
      const ms = Math.round(performance.now() - started);
      io.stderr.write(`cgiwire: ${`${res.status} ${res.statusText}`.trimEnd()}, ${bytes} body bytes in ${ms} ms from ${formatAddress(addr)}\n`);
    }
    return 0;
  } finally {
    client.destroy();
    if (body instanceof Readable && !body.readableEnded) body.destroy();
  }
}

// ----------------------------------------------------------------------------------------- get-values

async function getValues(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('get-values', args, {
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.stdout.write(GET_VALUES_USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('get-values needs an address', 'get-values');
  const addr = address('get-values', positionals[0]);
  const names = positionals.slice(1);
  const timeout = integer('get-values', 'timeout', values.timeout, 5000, 1);
  const client = new Client({ address: addr, connectTimeout: timeout, probeTimeout: timeout });
  try {
    const result = await client.getValues(names.length > 0 ? names : undefined, { timeout });
    if (values.json) io.stdout.write(`${JSON.stringify(result)}\n`);
    else for (const [name, value] of Object.entries(result)) io.stdout.write(`${name}=${value}\n`);
    return 0;
  } finally {
    client.destroy();
  }
}
