/**
 * cgiwire: FastCGI and SCGI for Node.js.
 * The codec (record and netstring readers, params decoding, encoders), the application server (createServer),
 * and the clients (Client, ScgiClient) with the PHP-FPM gateway.
 */
export * from './codec/index.js';
export * from './errors.js';
export { Server, isListeningSocketFd, type RequestListener, type ListenOptions, type CloseOptions } from './server.js';
export type { ServerOptions } from './options.js';
export type { CgiRequest, CgiResponse } from './http/index.js';
export { Exchange, type Role } from './exchange.js';

import { Server, type RequestListener } from './server.js';
import type { ServerOptions } from './options.js';

/**
 * A FastCGI (default) or SCGI application server, shaped like node:http's createServer:
 * `createServer(handler)` or `createServer(options, handler)`.
 */
export function createServer(handler?: RequestListener): Server;
export function createServer(options: ServerOptions, handler?: RequestListener): Server;
export function createServer(a?: ServerOptions | RequestListener, b?: RequestListener): Server {
  return typeof a === 'function' ? new Server({}, a) : new Server(a, b);
}
export { allow, deny } from './http/roles.js';
export {
  Client, ScgiClient, ClientError, ClientResponse, BadResponseError, parseResponseHead, parseAddress, parseAddresses,
  formatAddress, type ClientOptions, type FastCgiClientOptions, type RequestOptions, type ClientRole, type ParamsInput,
  type BodyInput, type ResponseHead, type Address, type AddressInput, type PeerInfo, type StderrSource,
} from './client/index.js';
export { requestParams, headerParams, type HttpRequestInfo } from './client/http-params.js';
export { phpFpm, mapScript, type PhpFpmOptions, type PhpFpmHandler, type ScriptMapping } from './gateway/php-fpm.js';
