// Starts real tracker processes (node running src/main.ts) against a real nats-server.
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { AnnounceRequest } from '@shoal/bus';
import {
  type AfterHook,
  freePort,
  type ManagedProcess,
  onCleanup,
  startProcess,
} from '@shoal/testkit';

export const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

export interface TrackerProcess {
  replicaId: string;
  httpPort: number;
  url: string;
  process: ManagedProcess;
  /** SIGKILL: a crash, no goodbye. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts one tracker replica and waits until `/readyz` answers 200. */
export async function startTracker(
  natsUrl: string,
  t: AfterHook,
  options: { replicaId?: string; env?: Record<string, string>; httpPort?: number } = {},
): Promise<TrackerProcess> {
  const httpPort = options.httpPort ?? (await freePort());
  const replicaId = options.replicaId ?? `tracker-${httpPort}`;
  const url = `http://127.0.0.1:${httpPort}`;
  const child = await startProcess(process.execPath, ['--conditions=source', MAIN], {
    name: replicaId,
    env: {
      SHOAL_NATS_URL: natsUrl,
      SHOAL_TRACKER_HTTP_PORT: String(httpPort),
      SHOAL_TRACKER_REPLICA_ID: replicaId,
      SHOAL_LOG_LEVEL: 'warn',
      ...options.env,
    },
    ready: { url: `${url}/readyz` },
    readyTimeoutMs: 20_000,
    t,
  });
  return {
    replicaId,
    httpPort,
    url,
    process: child,
    kill: async () => {
      child.kill('SIGKILL');
      await child.exited;
    },
    stop: async () => {
      await child.stop();
    },
  };
}

export async function natsClient(url: string, t: AfterHook): Promise<NatsConnection> {
  const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  onCleanup(t, () => nc.close());
  return nc;
}

/** A 40-hex-char id from a small number, distinct per `space`. */
export function id(n: number, space = 0): string {
  return `${space.toString(16).padStart(8, '0')}${n.toString(16).padStart(32, '0')}`;
}

export function announce(
  infoHash: string,
  n: number,
  fields: Partial<AnnounceRequest> = {},
): AnnounceRequest {
  return {
    infoHash,
    peerId: id(n, 0xbeef),
    ip: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    port: 6881,
    uploaded: 0,
    downloaded: 0,
    left: 1000,
    ...fields,
  };
}

/** The raw percent-encoding of every byte, as BitTorrent clients send ids. */
export function escapeBytes(bytes: Uint8Array): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

export function escapeHex(hex: string): string {
  return hex.replace(/../g, (pair) => `%${pair}`);
}
