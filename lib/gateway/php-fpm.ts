/**
 * A request handler that serves a PHP document root through PHP-FPM (or any FastCGI PHP runner), for
 * node:http and as Express/Connect middleware: the work nginx's `fastcgi_pass` with
 * `fastcgi_split_path_info` does, with the script mapped safely.
 *
 * - The script is a real file inside the root after resolving `..` and symlinks, with an allowed extension
 *   (the mapping that CVE-2019-11043 got wrong is done on path segments, not with a regular expression).
 * - Param names come from this module and the owner's options only: a request chooses values and HTTP_*
 *   names, never PHP_VALUE, PHP_ADMIN_VALUE or SCRIPT_FILENAME; `Proxy:` is dropped (httpoxy).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { realpathSync, statSync } from 'node:fs';
import { posix, resolve, sep } from 'node:path';
import { finished, type Readable } from 'node:stream';
import { Client, type FastCgiClientOptions } from '../client/index.js';
import { type ClientCall, ClientError } from '../client/call.js';
import { BadResponseError, type ClientResponse } from '../client/response.js';
import { requestParams } from '../client/http-params.js';
import { answerWithError } from '../http/error-answer.js';
import { HOP_BY_HOP } from '../http/hop-by-hop.js';

export interface PhpFpmOptions extends Partial<FastCgiClientOptions> {
  /** The document root: only scripts inside it run. */
  root: string;
  /** A client to send through (else one is made from `address` and the client options given). */
  client?: Client;
  /** Tried in a directory (default 'index.php'). */
  index?: string;
  /** File endings that run as scripts (default ['.php']); any other file is not this handler's. */
  extensions?: string[];
  /**
   * A front controller (e.g. '/index.php') that takes requests for paths with no script, as
   * `try_files $uri /index.php` would; without it such requests go to `next` (Express) or get 404.
   */
  fallback?: string;
  /** Params set by the site's owner on every request (PHP_VALUE may be one); they win over all others. */
  params?: Record<string, string>;
  /** A request body with no Content-Length (chunked) is gathered to learn its length, up to this (default 8 MiB; 413 beyond). */
  maxBufferedBody?: number;
  /**
   * How long a path's script mapping (its stat and realpath) is reused, in ms (default 1000; 0: never), as
   * nginx's open_file_cache would: a script removed or replaced shows within this time. At most 1024 paths.
   */
  scriptCacheMs?: number;
  /** PHP's STDERR output for a request (default: written to the process's stderr with the script name). */
  onStderr?: (text: string, req: IncomingMessage) => void;
}

type Next = (err?: unknown) => void;
export type PhpFpmHandler = ((req: IncomingMessage, res: ServerResponse, next?: Next) => Promise<void>) & {
  /** The client the handler sends through. */
  readonly client: Client;
  /** Closes the client if the handler made it. */
  close(): Promise<void>;
};

/** Where a request path leads: the script and what follows it. */
export interface ScriptMapping {
  /** The script's URL path (`/app/index.php`). */
  scriptName: string;
  /** The script's real file path (symlinks resolved), inside the root. */
  scriptFilename: string;
  /** What follows the script in the path (`/a/b`), or ''. */
  pathInfo: string;
}

class MappingError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}


/** A text's UTF-8 bytes as a latin1 string (one char per byte); ASCII comes back as it is. */
function utf8Bytes(text: string): string {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) return Buffer.from(text, 'utf8').toString('latin1');
  }
  return text;
}

function isFile(path: string): boolean {
  try {
    // No exception for the common miss (ENOENT); ENOTDIR and the like still throw.
    return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
  } catch {
    return false;
  }
}

/**
 * Maps a URL path (still percent-encoded, no query) to a script under `root` (a real path). Null when no
 * script matches; throws a MappingError (400 or 403) for a path that is malformed or tries to leave the root.
 */
export function mapScript(urlPath: string, root: string, extensions: readonly string[], index: string): ScriptMapping | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    throw new MappingError(400, 'malformed percent-encoding in the path');
  }
  // NUL ends a C string in PHP; CR/LF broke nginx's PATH_INFO split (CVE-2019-11043).
  if (/[\0\r\n]/.test(decoded)) throw new MappingError(400, 'control characters in the path');
  if (!decoded.startsWith('/')) throw new MappingError(400, 'the path does not start with /');
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..')) throw new MappingError(403, 'the path climbs with ..');
  const inRoot = (p: string): boolean => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
  const accept = (scriptName: string, pathInfo: string): ScriptMapping | null => {
    const file = resolve(root, '.' + posix.normalize(scriptName));
    if (!isFile(file)) return null;
    const real = realpathSync.native(file);
    if (!inRoot(real)) throw new MappingError(403, 'the script resolves outside the document root');
    if (!extensions.some((e) => real.endsWith(e))) throw new MappingError(403, 'the script resolves to a file that is not a script');
    return { scriptName: posix.normalize(scriptName), scriptFilename: real, pathInfo };
  };
  // The first segment that names a script splits the path: the rest is PATH_INFO.
  for (let i = 1; i < segments.length; i++) {
    if (!extensions.some((e) => segments[i].endsWith(e) && segments[i].length > e.length)) continue;
    const scriptName = segments.slice(0, i + 1).join('/');
    const pathInfo = i + 1 < segments.length ? '/' + segments.slice(i + 1).join('/') : '';
    const found = accept(scriptName, pathInfo);
    if (found !== null) return found;
  }
  if (decoded.endsWith('/')) return accept(decoded + index, '');
  return null;
}

/**
 * A request target in origin form (path and query). An absolute-form target (`http://host/a?b`, which a server
 * must accept, RFC 9112 3.2.2) loses its scheme and authority, as in nginx's $request_uri; an empty path is '/'.
 */
function originForm(target: string): string {
  if (target.startsWith('/')) return target;
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (authority === null) return target;
  const rest = target.slice(authority[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/** Whether a request has more than one Host header line (node's req.headers.host holds the first only). */
function hasManyHosts(rawHeaders: readonly string[]): boolean {
  let seen = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length === 4 && name.toLowerCase() === 'host' && ++seen > 1) return true;
  }
  return false;
}

async function gatherBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > max) throw new MappingError(413, `the request body is larger than maxBufferedBody (${max})`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts, total);
}

/**
 * Passes `length` bytes of `body` to `res` with backpressure, then ends it; the rest of the body is read and
 * dropped (END_REQUEST ends the call, and the connection stays kept). A body that ends short destroys `res`:
 * the HTTP client must not take it whole.
 */
function pipeExactly(body: Readable, res: ServerResponse, length: number): void {
  let left = length;
  if (left === 0) {
    res.end();
    body.resume();
    return;
  }
  const onData = (chunk: Buffer): void => {
    if (left === 0) return; // past the declared length: dropped, while END_REQUEST ends the call
    const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= piece.length;
    if (left === 0) {
      body.off('end', onEnd);
      res.end(piece);
      body.resume(); // read to END_REQUEST, so the kept connection to PHP-FPM stays usable
    } else if (!res.write(piece)) {
      body.pause();
      res.once('drain', () => body.resume());
    }
  };
  const onEnd = (): void => { res.destroy(new Error('PHP sent fewer bytes than its Content-Length')); };
  body.on('data', onData);
  body.once('end', onEnd);
}

function statusFor(err: unknown): number {
  if (err instanceof MappingError) return err.status;
  if (err instanceof ClientError && (err.code === 'ERR_CGIWIRE_TIMEOUT' || err.code === 'ERR_CGIWIRE_QUEUE_TIMEOUT')) return 504;
  if (err instanceof ClientError || err instanceof BadResponseError) return 502;
  return 500;
}

/** The handler. With Express: `app.use(phpFpm({ root, address }))`; with node:http: `createServer(phpFpm(...))`. */
export function phpFpm(options: PhpFpmOptions): PhpFpmHandler {
  if (options === null || typeof options !== 'object' || typeof options.root !== 'string') {
    throw new TypeError('phpFpm needs { root, address } or { root, client }');
  }
  const root = realpathSync(options.root);
  const extensions = options.extensions ?? ['.php'];
  const index = options.index ?? 'index.php';
  const ownClient = options.client === undefined;
  // PHP-FPM reads the next request on a kept connection once it has answered one: sending one ahead keeps its
  // workers from waiting on the gateway between requests.
  const client = options.client ?? new Client({ pipeline: 2, ...options } as FastCgiClientOptions);
  const maxBufferedBody = options.maxBufferedBody ?? 8 << 20;
  // The owner's params as latin1 byte strings, made once; they replace any param of the same name.
  const owner = Object.entries(options.params ?? {}).map(([name, value]) => [utf8Bytes(name), utf8Bytes(value)] as const);
  const onStderr = options.onStderr ?? ((text: string, req: IncomingMessage) => {
    process.stderr.write(`php-fpm stderr (${req.method} ${req.url}): ${text.trimEnd()}\n`);
  });

  const cacheMs = options.scriptCacheMs ?? 1000;
  const cache = new Map<string, { until: number; result: ScriptMapping | null | MappingError }>();
  const mapNow = (path: string): ScriptMapping | null => {
    let mapping = mapScript(path, root, extensions, index);
    if (mapping === null && options.fallback !== undefined) {
      mapping = mapScript(options.fallback, root, extensions, index);
      if (mapping !== null) mapping = { ...mapping, pathInfo: '' };
    }
    return mapping;
  };
  /** The mapping of a path, from the cache while it is fresh; refusals are cached like the rest. */
  const mapCached = (path: string): ScriptMapping | null => {
    if (cacheMs <= 0) return mapNow(path);
    const now = Date.now();
    let entry = cache.get(path);
    if (entry === undefined || entry.until < now) {
      let result: ScriptMapping | null | MappingError;
      try {
        result = mapNow(path);
      } catch (err) {
        if (!(err instanceof MappingError)) throw err;
        result = err;
      }
      if (cache.size >= 1024) cache.clear();
      entry = { until: now + cacheMs, result };
      cache.set(path, entry);
    }
    if (entry.result instanceof MappingError) throw entry.result;
    return entry.result;
  };

  const handler = async (req: IncomingMessage, res: ServerResponse, next?: Next): Promise<void> => {
    const url = originForm(req.url ?? '/');
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const mount = (req as { baseUrl?: string }).baseUrl ?? '';
    let mapping: ScriptMapping | null;
    let response: ClientResponse;
    let call: ClientCall | null = null;
    let gone = false;
    // The HTTP client went away before the response was complete: the request to PHP is cancelled.
    const onClose = (): void => {
      if (res.writableFinished) return;
      gone = true;
      call?.abort(new ClientError('ABORT_ERR', 'the HTTP client closed the connection'));
    };
    /** PHP's headers once they go on `res` (with the Content-Length given for them): taken back on an error. */
    let phpHeaders: Record<string, unknown> | null = null;
    /**
     * Answers `status` with a short text, or cuts the response when its head is out (the HTTP client must not
     * take it as whole). Takes back PHP's headers set so far (answerWithError).
     */
    const answerError = (status: number, text: string): void => {
      res.off('close', onClose);
      answerWithError(res, status, text, phpHeaders === null ? [] : [...Object.keys(phpHeaders), 'content-length']);
    };
    try {
      mapping = mapCached(path);
      if (mapping === null) {
        if (next) next();
        else answerError(404, 'Not Found');
        return;
      }
      // Which host such a request is for is unclear (PHP would see them joined); nginx answers 400 (RFC 9112, 3.2).
      if (hasManyHosts(req.rawHeaders)) throw new MappingError(400, 'more than one Host header');
      const declared = req.headers['content-length'];
      const chunked = declared === undefined && req.headers['transfer-encoding'] !== undefined;
      // A body middleware before this one (express.raw) may have read the body already: its Buffer is sent
      // instead. A body read into anything else cannot be sent on: a string (express.text) was decoded, and
      // its bytes are not the ones the client sent.
      const consumed = req.readableEnded && (chunked || (declared !== undefined && declared !== '0'));
      const parsed = (req as { body?: unknown }).body;
      if (consumed && !Buffer.isBuffer(parsed)) {
        throw new MappingError(500, 'the request body was read before the PHP gateway (put body parsers after it)');
      }
      const body = consumed ? parsed as Buffer
        : chunked ? await gatherBody(req, maxBufferedBody) : declared !== undefined && declared !== '0' ? req : null;
      const params = requestParams({
        method: req.method ?? 'GET',
        url: originForm((req as { originalUrl?: string }).originalUrl ?? url),
        protocol: `HTTP/${req.httpVersion}`,
        rawHeaders: req.rawHeaders,
        remoteAddress: req.socket.remoteAddress,
        remotePort: req.socket.remotePort,
        serverAddress: req.socket.localAddress,
        serverPort: req.socket.localPort,
        https: (req.socket as { encrypted?: boolean }).encrypted === true,
        contentLength: body instanceof Buffer ? body.length : declared !== undefined ? Number(declared) : null,
      });
      // Params go out in latin1, one char per byte: what node:http gives (headers, the URL) passes on as it
      // came; decoded paths and file names, which are text, are turned into their UTF-8 bytes first.
      const scriptName = mount + utf8Bytes(mapping.scriptName);
      const pathInfo = utf8Bytes(mapping.pathInfo);
      const rootBytes = utf8Bytes(root);
      params.push(
        ['SCRIPT_FILENAME', utf8Bytes(mapping.scriptFilename)],
        ['SCRIPT_NAME', scriptName],
        ['DOCUMENT_ROOT', rootBytes],
        ['DOCUMENT_URI', scriptName + pathInfo],
        ['REDIRECT_STATUS', '200'],
      );
      if (pathInfo !== '') params.push(['PATH_INFO', pathInfo], ['PATH_TRANSLATED', rootBytes + pathInfo]);
      let merged: Iterable<readonly [string, string]> = params;
      if (owner.length > 0) {
        const byName = new Map(params);
        for (const [name, value] of owner) byName.set(name, value);
        merged = byName;
      }
      // An HTTP client gone already (while a middleware before this one ran, or while the body was gathered)
      // closed before the listener below could see it: nothing goes to PHP. From here on its 'close' is seen.
      if (res.destroyed) return;
      call = client.startCall({ params: merged, body, paramsEncoding: 'latin1' });
      res.once('close', onClose);
      const clientHook = call.onStderr;
      call.onStderr = (chunk, c) => {
        clientHook?.(chunk, c);
        onStderr(chunk.toString('utf8'), req);
      };
      response = await call.promise;
    } catch (err) {
      res.off('close', onClose);
      if (gone) return;
      const status = statusFor(err);
      answerError(status, status === 502 ? 'Bad Gateway' : status === 504 ? 'Gateway Timeout' : (err as Error).message);
      return;
    }
    // PHP's headers as one flat list for writeHead (node's fast path; they still override headers set before).
    const raw = response.rawHeaders;
    const flat: string[] = [];
    // PHP's Content-Length, held to as nginx does: bytes past it would reach a keep-alive HTTP client as a
    // second response, too few would leave it waiting. -1: none; NaN: values that disagree or are not numbers.
    let declared = -1;
    // The one Content-Length value sent on, whichever way the head goes out (repeats of one value are one line).
    let lengthValue: string | null = null;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i].toLowerCase();
      if (HOP_BY_HOP.has(lower)) continue;
      if (lower === 'content-length') {
        const v = /^\s*\d{1,15}\s*$/.test(raw[i + 1]) ? Number(raw[i + 1]) : NaN;
        if (declared === -1) {
          declared = v;
          lengthValue = raw[i + 1];
        } else if (v !== declared) declared = NaN;
        continue;
      }
      flat.push(raw[i], raw[i + 1]);
    }
    if (Number.isNaN(declared)) {
      response.body.destroy();
      answerError(502, 'Bad Gateway: PHP sent an invalid or conflicting Content-Length');
      return;
    }
    const status = response.status;
    // A response whose END_REQUEST came with its head (a small page) is complete: one write with its length
    // instead of chunked coding (cut to PHP's own length when it gave one).
    // HEAD: PHP-FPM sends the Content-Length of the body it did not send; there is nothing to hold to it.
    const bodyAllowed = status >= 200 && status !== 204 && status !== 304 && req.method !== 'HEAD';
    let whole = bodyAllowed && (declared >= 0 || !res.hasHeader('content-length')) ? response.takeWhole() : null;
    if (!bodyAllowed) declared = -1;
    if (whole !== null && declared >= 0) {
      if (whole.length < declared) {
        // All of it is here and no head is out: an answer, where a streamed one can only be cut.
        answerError(502, 'Bad Gateway: PHP sent fewer bytes than its Content-Length');
        return;
      }
      whole = whole.subarray(0, declared);
    } else if (whole !== null) lengthValue = String(whole.length);
    if (lengthValue !== null) flat.push('Content-Length', lengthValue);
    // Kept, not listed: the names are only needed on an error.
    phpHeaders = response.headers;
    try {
      if (res.getHeaderNames().length === 0) res.writeHead(status, response.statusText, flat);
      else {
        // Headers set by middleware before: PHP's replace them by name, its repeated ones kept (setHeader with
        // an array; writeHead's flat list would keep only the last of each here).
        res.statusCode = status;
        res.statusMessage = response.statusText;
        for (const [name, value] of Object.entries(response.headers)) {
          if (!HOP_BY_HOP.has(name) && name !== 'content-length') res.setHeader(name, value);
        }
        if (lengthValue !== null) res.setHeader('Content-Length', lengthValue);
        res.writeHead(status);
      }
    } catch (err) {
      // A header node refuses (a bad character): the response cannot be passed on.
      response.body.destroy();
      answerError(502, `Bad Gateway: ${(err as Error).message}`);
      return;
    }
    if (whole !== null) {
      res.off('close', onClose);
      res.end(whole);
      return;
    }
    // pipe, not stream.pipeline: pipeline makes and aborts an AbortController per call (a DOMException each),
    // which cost a tenth of the gateway's time per request.
    const body = response.body;
    await new Promise<void>((done) => {
      // finished() also calls back for a response that closed already: a body piped into it would wait for a
      // 'drain' that never comes, holding the PHP connection for good.
      const stopWatching = finished(res, () => {
        stopWatching();
        res.off('close', onClose);
        // The HTTP client left before the end: the rest of PHP's answer is not wanted (the call is cancelled).
        if (!res.writableFinished) body.destroy();
        done();
      });
      body.once('error', (err) => { res.destroy(err); });
      if (declared < 0 || !bodyAllowed) body.pipe(res);
      else pipeExactly(body, res, declared);
    });
  };
  return Object.assign(handler, {
    client,
    close: () => (ownClient ? client.close() : Promise.resolve()),
  });
}
