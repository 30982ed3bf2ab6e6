/**
 * What a client test starts (application servers, clients, fake peers), stopped after each test: call
 * {@link stopAfterEach} once at the top of a test file and push what the tests start into its lists.
 */
import { afterEach } from 'vitest';
import type { Server } from '../../lib/index.js';
import type { FakePeer } from './fake-peer.js';

export interface Started {
  servers: Server[];
  clients: { destroy(): void }[];
  peers: FakePeer[];
}

export function stopAfterEach(): Started {
  const started: Started = { servers: [], clients: [], peers: [] };
  afterEach(async () => {
    for (const c of started.clients.splice(0)) c.destroy();
    for (const p of started.peers.splice(0)) await p.stop();
    await Promise.all(started.servers.splice(0).map((s) => new Promise<void>((r) => (s.listening ? s.close({ timeout: 50 }, () => r()) : r()))));
  });
  return started;
}
