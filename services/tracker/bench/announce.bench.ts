// Announce throughput and latency: shoal over NATS (1 and 2 replicas) and over HTTP, next to
// opentracker, with one closed-loop load generator (a bounded count of announces from distinct
// peers, N in flight). Prints a table and one `BENCH_JSON {...}` line.
// Run: pnpm --filter @shoal/tracker bench  (BENCH_ANNOUNCES, BENCH_CONCURRENCY, BENCH_SWARMS)
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Svcm } from '@nats-io/services';
import {
  connect,
  createInbox,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import {
  AnnounceResponse,
  createSubjects,
  decodeMessage,
  MAX_TRACKER_REPLY_BYTES,
  SERVICE_ERROR_CODE_HEADER,
  TRACKER_SERVICE_NAME,
} from '@shoal/bus';
import { type BDict, bdecode } from '@shoal/protocol';
import {
  freePort,
  type ManagedProcess,
  requireExecutable,
  startNatsServer,
  startProcess,
} from '@shoal/testkit';
import { escapeBytes, id, MAIN } from '../test/helpers.ts';

const COUNT = Number(process.env.BENCH_ANNOUNCES ?? 50_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const SWARMS = Number(process.env.BENCH_SWARMS ?? 100);
const WARMUP = Math.min(2000, COUNT);
const PHASE_TIMEOUT_MS = 180_000;
const SAMPLE_EVERY = 997;

interface Result {
  name: string;
  count: number;
  errors: number;
  seconds: number;
  rate: number;
  p50ms: number;
  p99ms: number;
  /** CPU time per announce (µs): the tracker(s) or opentracker, nats-server, the generator. */
  cpuUs: { server: number; nats: number; generator: number };
}

/** Processes whose CPU time a run is charged with. */
interface Charged {
  servers: number[];
  nats?: number;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function generatorSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * Sends one request: calls `done` exactly once, with true for a good answer, false for a bad
 * one, or an error. `slot` (0 to concurrency - 1) is the in-flight slot the request holds.
 */
type Send = (i: number, slot: number, done: (ok: boolean, error?: unknown) => void) => void;

/**
 * Runs `count` calls of `send`, `concurrency` in flight: closed loop, callbacks only (no promise
 * or timer per request), so the generator's own CPU per request stays small and the same for
 * every row.
 */
function load(
  name: string,
  count: number,
  concurrency: number,
  send: Send,
  charged: Charged,
): Promise<Result> {
  const cpuBefore = {
    server: charged.servers.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    nats: charged.nats === undefined ? 0 : cpuSeconds(charged.nats),
    generator: generatorSeconds(),
  };
  const latencies = new Float64Array(count);
  const startedAt = new Float64Array(count);
  let next = 0;
  let finished = 0;
  let errors = 0;
  let firstError: unknown;
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let settled = false;
    const end = () => {
      if (settled) return;
      settled = true;
      const seconds = (performance.now() - started) / 1000;
      if (finished < count) {
        reject(
          new Error(
            `${name}: only ${finished} of ${count} announces within ${PHASE_TIMEOUT_MS} ms`,
          ),
        );
        return;
      }
      if (firstError !== undefined) console.error(`${name}: first error:`, firstError);
      const sorted = latencies.slice().sort();
      const pick = (q: number) => sorted[Math.min(count - 1, Math.floor(q * count))]!;
      const perAnnounce = (before: number, after: number) =>
        Math.round(((after - before) * 1e6) / count);
      const serverNow = charged.servers.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
      const cpuUs = {
        server: perAnnounce(cpuBefore.server, serverNow),
        nats:
          charged.nats === undefined ? 0 : perAnnounce(cpuBefore.nats, cpuSeconds(charged.nats)),
        generator: perAnnounce(cpuBefore.generator, generatorSeconds()),
      };
      const rate = count / seconds;
      resolve({ name, count, errors, seconds, rate, p50ms: pick(0.5), p99ms: pick(0.99), cpuUs });
    };
    const timer = setTimeout(end, PHASE_TIMEOUT_MS + 1000);
    const start = (slot: number) => {
      if (next >= count || Date.now() > deadline) return;
      const i = next++;
      startedAt[i] = performance.now();
      let called = false;
      send(i, slot, (ok, error) => {
        if (called) return;
        called = true;
        latencies[i] = performance.now() - startedAt[i]!;
        if (!ok) {
          errors++;
          firstError ??= error;
        }
        if (++finished === count) {
          clearTimeout(timer);
          end();
        } else start(slot);
      });
    };
    for (let slot = 0; slot < Math.min(concurrency, count); slot++) start(slot);
  });
}

/**
 * Requests over NATS with one wildcard reply subscription per connection (reply subject
 * `<inbox>.<i>`), instead of `nc.request`, which costs a promise, a timer and an Error per call.
 * Replies later than `timeoutMs` count as errors (swept once a second).
 */
class NatsRequester {
  readonly #conns: { nc: NatsConnection; inbox: string; sub: Subscription }[];
  readonly #waiting = new Map<number, { at: number; done: (msg?: Msg, error?: Error) => void }>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(conns: NatsConnection[], timeoutMs: number) {
    this.#conns = conns.map((nc) => {
      const inbox = createInbox();
      const sub = nc.subscribe(`${inbox}.*`, {
        callback: (_error, msg) => {
          const i = Number(msg.subject.slice(inbox.length + 1));
          const waiter = this.#waiting.get(i);
          if (waiter === undefined) return;
          this.#waiting.delete(i);
          if (msg.data.length === 0 && msg.headers?.code === 503) {
            waiter.done(undefined, new Error('no responders'));
          } else waiter.done(msg);
        },
      });
      return { nc, inbox, sub };
    });
    this.#sweeper = setInterval(() => {
      const cutoff = performance.now() - timeoutMs;
      for (const [i, waiter] of this.#waiting) {
        if (waiter.at > cutoff) break;
        this.#waiting.delete(i);
        waiter.done(undefined, new Error(`no reply within ${timeoutMs} ms`));
      }
    }, 1000);
  }

  request(
    i: number,
    subject: string,
    payload: Uint8Array,
    done: (msg?: Msg, error?: Error) => void,
  ): void {
    const { nc, inbox } = this.#conns[i % this.#conns.length]!;
    this.#waiting.set(i, { at: performance.now(), done });
    nc.publish(subject, payload, { reply: `${inbox}.${i}` });
  }

  close(): void {
    clearInterval(this.#sweeper);
    for (const { sub } of this.#conns) sub.unsubscribe();
  }
}

const swarmOf = (space: number, i: number) => id(i % SWARMS, space);
const peerOf = (space: number, i: number) => id(i, space);

function natsPayloads(space: number, count: number): Uint8Array[] {
  const encoder = new TextEncoder();
  return Array.from({ length: count }, (_, i) =>
    encoder.encode(
      JSON.stringify({
        infoHash: swarmOf(space, i),
        peerId: peerOf(space, i),
        ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: i % 4 === 0 ? 0 : 1_000_000,
        event: 'started',
        labels: { zone: `z${i % 3}`, rack: `r${i % 12}` },
      }),
    ),
  );
}

function httpQueries(space: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const infoHash = Buffer.from(swarmOf(space, i), 'hex');
    const peerId = Buffer.from(peerOf(space, i), 'hex');
    // Distinct ports: opentracker tells peers apart by address and port only.
    return `/announce?info_hash=${escapeBytes(infoHash)}&peer_id=${escapeBytes(peerId)}&port=${1024 + (i % 60_000)}&uploaded=0&downloaded=0&left=${i % 4 === 0 ? 0 : 1_000_000}&event=started&compact=1&numwant=50`;
  });
}

async function natsLoad(
  name: string,
  conns: NatsConnection[],
  space: number,
  charged: Charged,
): Promise<Result> {
  const subject = createSubjects().trackerAnnounce;
  const requester = new NatsRequester(conns, 10_000);
  // Request ids restart at 0 in each phase; a phase starts after the previous one finished.
  const send =
    (payloads: Uint8Array[]): Send =>
    (i, _slot, done) =>
      requester.request(i, subject, payloads[i]!, (reply, error) => {
        if (reply === undefined) return done(false, error);
        if (reply.headers?.get(SERVICE_ERROR_CODE_HEADER)) return done(false);
        // Validate a sample of replies fully; the rest only for error headers, to keep the
        // generator's own CPU use low.
        if (i % SAMPLE_EVERY === 0) {
          try {
            decodeMessage(AnnounceResponse, reply.data, MAX_TRACKER_REPLY_BYTES);
          } catch (error) {
            return done(false, error);
          }
        }
        done(true);
      });
  try {
    await load(
      `${name} warmup`,
      WARMUP,
      CONCURRENCY,
      send(natsPayloads(space + 1, WARMUP)),
      charged,
    );
    return await load(name, COUNT, CONCURRENCY, send(natsPayloads(space, COUNT)), charged);
  } finally {
    requester.close();
  }
}

/**
 * A minimal HTTP/1.1 GET over a raw socket, so the generator costs little and behaves the same
 * against both servers (Node's http client saw opentracker close half of its connections
 * early). `keepAlive` reuses one socket per worker, reading `Content-Length` bytes per answer.
 */
class HttpWorker {
  readonly #host: string;
  readonly #port: number;
  readonly #keepAlive: boolean;
  #socket: Socket | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  #waiter: ((body?: Buffer, error?: Error) => void) | undefined;

  constructor(host: string, port: number, keepAlive: boolean) {
    this.#host = host;
    this.#port = port;
    this.#keepAlive = keepAlive;
  }

  /** One GET; `done` gets the body of a 200 answer, or an error. */
  get(path: string, done: (body?: Buffer, error?: Error) => void): void {
    this.#waiter = done;
    const socket = this.#socket ?? this.#connect();
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${this.#host}:${this.#port}\r\nConnection: ${this.#keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`,
    );
  }

  #connect(): Socket {
    const socket = connectTcp({ host: this.#host, port: this.#port });
    socket.setNoDelay(true);
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    this.#socket = socket;
    this.#buffer = Buffer.alloc(0);
    // Events of a socket this worker already gave up on must not touch the next request.
    const current = () => this.#socket === socket;
    socket.on('data', (chunk: Buffer) => {
      if (!current()) return;
      this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      this.#tryComplete(false);
    });
    socket.on('end', () => {
      if (current()) this.#tryComplete(true);
    });
    socket.on('error', (error) => {
      if (current()) this.#fail(error);
    });
    socket.on('close', () => {
      if (!current()) return;
      this.#socket = undefined;
      this.#fail(new Error('connection closed before a full answer'));
    });
    return socket;
  }

  #tryComplete(ended: boolean): void {
    const headerEnd = this.#buffer.indexOf('\r\n\r\n');
    if (headerEnd === -1 || this.#waiter === undefined) return;
    const head = this.#buffer.subarray(0, headerEnd).toString('latin1');
    const length = /content-length: *(\d+)/i.exec(head);
    const bodyStart = headerEnd + 4;
    const bodyEnd =
      length === null ? (ended ? this.#buffer.length : -1) : bodyStart + Number(length[1]);
    if (bodyEnd === -1 || this.#buffer.length < bodyEnd) return;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    const body = this.#buffer.subarray(bodyStart, bodyEnd);
    this.#buffer = this.#buffer.subarray(bodyEnd);
    if (!this.#keepAlive || /connection: *close/i.test(head)) {
      this.#socket?.destroy();
      this.#socket = undefined;
    }
    if (!head.startsWith('HTTP/1.1 200') && !head.startsWith('HTTP/1.0 200')) {
      waiter(undefined, new Error(head.split('\r\n')[0]));
    } else {
      waiter(body);
    }
  }

  #fail(error: Error): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(undefined, error);
  }

  close(): void {
    this.#socket?.destroy();
  }
}

async function httpLoad(
  name: string,
  base: string,
  space: number,
  keepAlive: boolean,
  charged: Charged,
): Promise<Result> {
  const url = new URL(base);
  // One worker (one connection) per in-flight slot, like a browser's pool.
  const workers = Array.from(
    { length: CONCURRENCY },
    () => new HttpWorker(url.hostname, Number(url.port), keepAlive),
  );
  const send =
    (queries: string[]): Send =>
    (i, slot, done) =>
      workers[slot]!.get(queries[i]!, (body, error) => {
        if (body === undefined) return done(false, error);
        if (body.subarray(0, 18).toString('latin1') === 'd14:failure reason') return done(false);
        if (i % SAMPLE_EVERY === 0) {
          try {
            const peers = (bdecode(new Uint8Array(body)) as BDict).get('peers');
            if (!(peers instanceof Uint8Array) || peers.length % 6 !== 0) return done(false);
          } catch (error) {
            return done(false, error);
          }
        }
        done(true);
      });
  try {
    await load(
      `${name} warmup`,
      WARMUP,
      CONCURRENCY,
      send(httpQueries(space + 1, WARMUP)),
      charged,
    );
    return await load(name, COUNT, CONCURRENCY, send(httpQueries(space, COUNT)), charged);
  } finally {
    for (const worker of workers) worker.close();
  }
}

async function main(): Promise<void> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const results: Result[] = [];
  const hook = { after: (fn: () => unknown) => cleanups.push(async () => fn()) };
  try {
    const opentracker = requireExecutable('opentracker');
    const nats = await startNatsServer({ jetstream: true, t: hook });
    const natsPid = nats.process().pid;
    const trackerEnv = {
      SHOAL_NATS_URL: nats.url,
      SHOAL_LOG_LEVEL: 'warn',
      SHOAL_TRACKER_HTTP_RATE_PER_IP: '0',
      SHOAL_TRACKER_NATS_RATE_PER_PEER: '0',
    };
    const startTracker = async (
      bucket: string,
      replica: string,
    ): Promise<{ url: string; proc: ManagedProcess }> => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const proc = await startProcess(process.execPath, ['--conditions=source', MAIN], {
        name: replica,
        env: {
          ...trackerEnv,
          SHOAL_KV_BUCKET: bucket,
          SHOAL_TRACKER_HTTP_PORT: String(port),
          SHOAL_TRACKER_REPLICA_ID: replica,
        },
        ready: { url: `${url}/readyz` },
        t: hook,
      });
      return { url, proc };
    };
    const conns = await Promise.all(
      [0, 1].map(() => connect({ servers: nats.url, noAsyncTraces: true })),
    );
    cleanups.push(async () => Promise.all(conns.map((c) => c.close())));

    const single = await startTracker('bench-one', 'one');
    results.push(
      await natsLoad('shoal NATS, 1 replica', conns, 0x10, {
        servers: [single.proc.pid],
        nats: natsPid,
      }),
    );
    await single.proc.stop();

    const [a, b] = await Promise.all([
      startTracker('bench-two', 'two-a'),
      startTracker('bench-two', 'two-b'),
    ]);
    results.push(
      await natsLoad('shoal NATS, 2 replicas', conns, 0x20, {
        servers: [a.proc.pid, b.proc.pid],
        nats: natsPid,
      }),
    );
    const shares: Record<string, number> = {};
    const client = new Svcm(conns[0] as unknown as ConstructorParameters<typeof Svcm>[0]).client();
    for await (const stats of await client.stats(TRACKER_SERVICE_NAME)) {
      shares[stats.metadata?.replica ?? stats.id] =
        stats.endpoints?.find((e) => e.name === 'announce')?.num_requests ?? 0;
    }
    console.log('announces per replica (2-replica run, incl. warmup):', JSON.stringify(shares));
    await b.proc.stop();

    results.push(
      await httpLoad('shoal HTTP, keep-alive', a.url, 0x30, true, {
        servers: [a.proc.pid],
        nats: natsPid,
      }),
    );
    results.push(
      await httpLoad('shoal HTTP, new connection each', a.url, 0x40, false, {
        servers: [a.proc.pid],
        nats: natsPid,
      }),
    );
    await a.proc.stop();

    const dir = await mkdtemp(join(tmpdir(), 'shoal-opentracker-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const hashes = new Set<string>();
    for (const space of [0x50, 0x51])
      for (let i = 0; i < SWARMS; i++) hashes.add(swarmOf(space, i));
    await writeFile(join(dir, 'whitelist'), `${[...hashes].join('\n')}\n`);
    await chmod(dir, 0o755);
    const otPort = await freePort();
    // opentracker refuses to run as root: it chroots into `dir` and drops to `nobody`.
    const ot = await startProcess(
      opentracker,
      [
        '-i',
        '127.0.0.1',
        '-p',
        String(otPort),
        '-P',
        String(await freePort()),
        '-d',
        dir,
        '-w',
        '/whitelist',
        '-u',
        'nobody',
      ],
      { name: 'opentracker', t: hook },
    );
    const otUrl = `http://127.0.0.1:${otPort}`;
    await waitForHttp(otUrl);
    // opentracker closes the connection after every answer, so the generator cannot keep any.
    results.push(await httpLoad('opentracker HTTP', otUrl, 0x50, false, { servers: [ot.pid] }));
    await ot.stop();
  } finally {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error: unknown) => console.error(error));
  }
  report(results);
}

async function waitForHttp(url: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await fetch(`${url}/stats`, { signal: AbortSignal.timeout(500) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`${url} never answered`);
}

function report(results: Result[]): void {
  const by = (name: string) => results.find((r) => r.name === name);
  const ot = by('opentracker HTTP');
  const nats1 = by('shoal NATS, 1 replica');
  const nats2 = by('shoal NATS, 2 replicas');
  const keepAlive = by('shoal HTTP, keep-alive');
  const perConnection = by('shoal HTTP, new connection each');
  const ratio = (a?: Result, b?: Result) =>
    a && b ? Number((a.rate / b.rate).toFixed(2)) : undefined;
  const rows = results.map(
    (r) =>
      `| ${r.name.padEnd(31)} | ${String(r.errors).padStart(6)} | ${Math.round(r.rate).toString().padStart(6)} | ${r.p50ms.toFixed(1).padStart(6)} | ${r.p99ms.toFixed(1).padStart(6)} | ${String(r.cpuUs.server).padStart(10)} | ${String(r.cpuUs.nats).padStart(9)} | ${String(r.cpuUs.generator).padStart(9)} |`,
  );
  console.log(
    `\n${COUNT} announces per run from distinct peers over ${SWARMS} swarms, ${CONCURRENCY} in flight, one Node load generator; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  console.log(
    '| run                             | errors | per s  | p50 ms | p99 ms | server µs* | nats µs* | load µs* |',
  );
  console.log(
    '| ------------------------------- | ------ | ------ | ------ | ------ | ---------- | -------- | -------- |',
  );
  for (const row of rows) console.log(row);
  console.log(
    '* CPU time per announce: tracker replicas (or opentracker), nats-server, load generator',
  );
  const ratios = {
    httpKeepAliveVsOpentracker: ratio(keepAlive, ot),
    httpNewConnectionVsOpentracker: ratio(perConnection, ot),
    nats2VsNats1: ratio(nats2, nats1),
    nats2VsOpentracker: ratio(nats2, ot),
  };
  console.log('\nratios:', JSON.stringify(ratios));
  console.log(
    `BENCH_JSON ${JSON.stringify({ bench: 'tracker-announce', count: COUNT, concurrency: CONCURRENCY, swarms: SWARMS, loadavg: loadavg(), results, ratios })}`,
  );
}

await main();
