/**
 * The one place that reads a Node internal: the file descriptor under a net.Socket (`_handle.fd`), which no
 * public API gives. It is needed to set a socket option Node does not expose (TCP_QUICKACK, see
 * native/binding.cc); test/server/socket-fd.test.ts checks it still works on the running Node. Anything
 * unexpected gives undefined, and the option is then simply not set.
 */
import type { Socket } from 'node:net';
import { quickAck } from './codec/native.js';

export function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * A function that asks for immediate ACKs on a TCP socket, or null for a unix socket or where it cannot be
 * done. Called after reads while a request body is still arriving (the mode lapses after a while).
 */
export function quickAcker(socket: Socket): (() => void) | null {
  if (socket.remoteFamily !== 'IPv4' && socket.remoteFamily !== 'IPv6') return null;
  const fd = socketFd(socket);
  if (fd === undefined || !quickAck(fd)) return null;
  return () => { quickAck(fd); };
}
