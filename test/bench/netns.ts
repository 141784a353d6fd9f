// A datacenter on one machine: hosts as network namespaces, each joined to one bridge by a veth
// pair, addressed from 198.18.0.0/15 (RFC 2544 benchmarking space), each link shaped with `tc`.
//
//   host i (netns shoal-bench-<pid>-<seq>-<i>)       root namespace
//   eth0 198.18.0.<i+1>/15  <── veth ──>  sb<pid><seq>h<i>  ── bridge sb<pid><seq>br 198.19.255.254/15
//
// Shaping: a `tbf` qdisc at the link rate on both ends of every veth: egress of the host's eth0
// is its upload, egress of the bridge-side end is its download. This kernel has no `netem`, so
// links have no added delay; `fq`, `fq_codel`, `sfq` and `cake` are missing too, so each tbf
// queue is one FIFO (flows sharing a link are not served fairly).
//
// The bridge has an address so the benchmark (in the root namespace) can reach the hosts' HTTP
// probes and RPC ports; its few bytes cross the same shaped links. Every root-namespace link
// carries the alias `shoal-bench-<pid>-<seq>`, so leftovers of a killed run can be found.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { isAlive } from '@shoal/cli';
import { type ManagedProcess, type StartProcessOptions, startProcess } from '@shoal/testkit';
import { BenchError, BenchErrorCode } from './errors.ts';

export const NAME_PREFIX = 'shoal-bench-';
/** Most hosts one network holds (addresses stay in 198.18.0.0/24). */
export const MAX_HOSTS = 250;
/** The benchmark's own address, on the bridge. */
export const MANAGEMENT_IP = '198.19.255.254';
const PREFIX_LENGTH = 15;
/** How long packets may wait in a tbf queue before it drops: the link's buffer. */
const QUEUE_LATENCY = '50ms';
const COMMAND_TIMEOUT_MS = 15_000;

export interface Host {
  index: number;
  /** The network namespace. */
  namespace: string;
  ip: string;
  /** The veth end in the root namespace, on the bridge. */
  rootLink: string;
}

export interface NetworkOptions {
  /** Hosts including the origin (host 0), 2 to MAX_HOSTS. */
  hosts: number;
  /** Link rate of every host in bits/s, both directions; `undefined` leaves links unshaped. */
  rateBitsPerS?: number;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Date.now() when it ended. */
  endedMs: number;
}

interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a short command (`ip`, `tc`) and fails with its stderr. */
export function run(command: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null) {
          const detail = stderr.trim() || error.message;
          reject(
            new BenchError(
              BenchErrorCode.NetworkCommand,
              `${command} ${args.join(' ')}: ${detail}`,
              { cause: error },
            ),
          );
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}

/** Fails loudly, with what to do, when this machine cannot build a test network. */
export async function checkNetworkSupport(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new BenchError(
      BenchErrorCode.NetworkUnavailable,
      'the datacenter benchmark creates network namespaces and needs root: run it with sudo',
    );
  }
  for (const [command, args] of [
    ['ip', ['netns', 'list']],
    ['tc', ['-V']],
  ] as const) {
    try {
      await run(command, args);
    } catch (cause) {
      throw new BenchError(
        BenchErrorCode.NetworkUnavailable,
        `${command} does not work here (install iproute2): ${(cause as Error).message}`,
        { cause },
      );
    }
  }
}

let sequence = 0;
const live = new Set<TestNetwork>();

export class TestNetwork {
  /** `shoal-bench-<pid>-<seq>`: prefix of its namespaces, alias of its links. */
  readonly owner: string;
  readonly hosts: readonly Host[];
  readonly bridge: string;
  readonly rateBitsPerS: number | undefined;
  readonly #processes = new Set<ManagedProcess>();
  readonly #commands = new Set<ChildProcess>();
  #destroying: Promise<void> | undefined;

  private constructor(options: NetworkOptions, seq: number) {
    // Interface names have at most 15 characters: the pid in base 36 keeps them short.
    const tag = `sb${process.pid.toString(36)}${seq.toString(36)}`;
    this.owner = `${NAME_PREFIX}${process.pid}-${seq}`;
    this.bridge = `${tag}br`;
    this.rateBitsPerS = options.rateBitsPerS;
    this.hosts = Array.from({ length: options.hosts }, (_, index) => ({
      index,
      namespace: `${this.owner}-${index}`,
      ip: `198.18.0.${index + 1}`,
      rootLink: `${tag}h${index}`,
    }));
  }

  /** Builds the network; on any failure removes whatever it made. */
  static async create(options: NetworkOptions): Promise<TestNetwork> {
    if (!Number.isInteger(options.hosts) || options.hosts < 2 || options.hosts > MAX_HOSTS) {
      throw new BenchError(
        BenchErrorCode.Usage,
        `a network has 2 to ${MAX_HOSTS} hosts, got ${options.hosts}`,
      );
    }
    const rate = options.rateBitsPerS;
    if (rate !== undefined && (!Number.isFinite(rate) || rate < 1e5 || rate > 1e11)) {
      throw new BenchError(BenchErrorCode.Usage, `link rate ${rate} bit/s is out of range`);
    }
    const network = new TestNetwork(options, sequence++);
    live.add(network);
    try {
      await network.#build();
    } catch (error) {
      await network.destroy().catch(() => {});
      throw error;
    }
    return network;
  }

  get origin(): Host {
    return this.hosts[0]!;
  }

  /** Networks of this process not yet destroyed (for signal handlers). */
  static live(): TestNetwork[] {
    return [...live];
  }

  async #build(): Promise<void> {
    await run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await run('ip', ['link', 'set', this.bridge, 'alias', this.owner]);
    await run('ip', ['addr', 'add', `${MANAGEMENT_IP}/${PREFIX_LENGTH}`, 'dev', this.bridge]);
    await run('ip', ['link', 'set', this.bridge, 'up']);
    for (const host of this.hosts) {
      const ns = host.namespace;
      await run('ip', ['netns', 'add', ns]);
      // The peer is made inside the namespace: the root namespace may have an eth0 of its own.
      await run('ip', [
        'link',
        'add',
        host.rootLink,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns,
      ]);
      await run('ip', ['link', 'set', host.rootLink, 'alias', this.owner]);
      await run('ip', ['link', 'set', host.rootLink, 'master', this.bridge, 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${host.ip}/${PREFIX_LENGTH}`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      if (this.rateBitsPerS !== undefined) {
        const shape = tbfArgs(this.rateBitsPerS);
        await run('tc', ['qdisc', 'add', 'dev', host.rootLink, 'root', ...shape]);
        await run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'eth0', 'root', ...shape]);
      }
    }
  }

  /**
   * Starts `command` inside `host`'s namespace (`ip netns exec` replaces itself with the
   * command, so the pid is the command's). It is stopped by `destroy()` at the latest.
   */
  async spawn(
    host: Host,
    command: string,
    args: readonly string[],
    options: StartProcessOptions = {},
  ): Promise<ManagedProcess> {
    if (this.#destroying !== undefined) {
      throw new BenchError(BenchErrorCode.Interrupted, `the network is being torn down`);
    }
    const child = await startProcess('ip', ['netns', 'exec', host.namespace, command, ...args], {
      name: options.name ?? `${command.split('/').pop()}@h${host.index}`,
      ...options,
    });
    this.#processes.add(child);
    void child.exited.then(() => this.#processes.delete(child));
    return child;
  }

  /**
   * Runs a command in `host`'s namespace to its end, with stdout and stderr kept apart; it is
   * killed after `timeoutMs` (the result then has signal SIGKILL) and by `destroy()`.
   */
  exec(
    host: Host,
    command: string,
    args: readonly string[],
    options: { timeoutMs: number; env?: Record<string, string> },
  ): Promise<ExecResult> {
    if (this.#destroying !== undefined) {
      return Promise.reject(
        new BenchError(BenchErrorCode.Interrupted, 'the network is being torn down'),
      );
    }
    const child = spawn('ip', ['netns', 'exec', host.namespace, command, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#commands.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    return new Promise((resolve, reject) => {
      child.once('error', (error) => {
        clearTimeout(timer);
        this.#commands.delete(child);
        reject(error);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        this.#commands.delete(child);
        resolve({ code, signal, stdout, stderr, endedMs: Date.now() });
      });
    });
  }

  /** Bytes `host` has sent on its link (eth0 transmit counter, Ethernet frames). */
  async txBytes(host: Host): Promise<number> {
    const { stdout } = await run('ip', ['-n', host.namespace, '-j', '-s', 'link', 'show', 'eth0']);
    const parsed = JSON.parse(stdout) as { stats64?: { tx?: { bytes?: number } } }[];
    const bytes = parsed[0]?.stats64?.tx?.bytes;
    if (typeof bytes !== 'number') {
      throw new BenchError(BenchErrorCode.NetworkCommand, `no tx counter for ${host.namespace}`);
    }
    return bytes;
  }

  /** Frames each host has sent into the bridge, in host order. */
  async sentPackets(): Promise<number[]> {
    return Promise.all(
      this.hosts.map((host) =>
        readFile(`/sys/class/net/${host.rootLink}/statistics/rx_packets`, 'latin1').then(Number),
      ),
    );
  }

  /**
   * Bytes each host has sent into the bridge and received from it (the counters of its
   * bridge-side veth end), in host order; cheap enough to sample often.
   */
  async linkBytes(): Promise<{ sent: number[]; received: number[] }> {
    const read = (host: Host, counter: string) =>
      readFile(`/sys/class/net/${host.rootLink}/statistics/${counter}`, 'latin1').then(Number);
    const [sent, received] = await Promise.all([
      Promise.all(this.hosts.map((host) => read(host, 'rx_bytes'))),
      Promise.all(this.hosts.map((host) => read(host, 'tx_bytes'))),
    ]);
    return { sent, received };
  }

  /** The qdisc on each end of `host`'s link, as `tc` shows it (for the report). */
  async shaping(host: Host): Promise<string> {
    const root = await run('tc', ['qdisc', 'show', 'dev', host.rootLink]);
    const inside = await run('tc', ['-n', host.namespace, 'qdisc', 'show', 'dev', 'eth0']);
    return `${root.stdout.trim()} | ${inside.stdout.trim()}`;
  }

  /**
   * Stops every process (SIGTERM, SIGKILL after `graceMs`), kills anything else still in the
   * namespaces, deletes them and the bridge, then checks nothing is left. Safe to call twice.
   */
  destroy(graceMs = 5000): Promise<void> {
    this.#destroying ??= this.#teardown(graceMs);
    return this.#destroying;
  }

  async #teardown(graceMs: number): Promise<void> {
    for (const child of this.#commands) child.kill('SIGKILL');
    await Promise.all([...this.#processes].map((child) => child.stop(graceMs)));
    await removeOwner(this.owner);
    live.delete(this);
  }
}

function tbfArgs(rateBitsPerS: number): string[] {
  // The bucket must hold at least one full-sized segment burst; 2 ms of line rate above that.
  const burstBytes = Math.max(64 * 1024, Math.ceil((rateBitsPerS / 8) * 0.002));
  return [
    'tbf',
    'rate',
    `${Math.round(rateBitsPerS)}bit`,
    'burst',
    String(burstBytes),
    'latency',
    QUEUE_LATENCY,
  ];
}

export interface Leftovers {
  namespaces: string[];
  /** Root-namespace links (bridges, veth ends) with a `shoal-bench-` alias. */
  links: { name: string; owner: string }[];
}

/** Every namespace and link any benchmark run made that still exists. */
export async function listLeftovers(): Promise<Leftovers> {
  const { stdout } = await run('ip', ['netns', 'list']);
  const namespaces = stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith(NAME_PREFIX));
  const links = JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout) as {
    ifname: string;
    ifalias?: string;
  }[];
  return {
    namespaces,
    links: links
      .filter((link) => link.ifalias?.startsWith(NAME_PREFIX))
      .map((link) => ({ name: link.ifname, owner: link.ifalias! })),
  };
}

/** `shoal-bench-<pid>-<seq>[-<host>]` → pid. */
function ownerPid(name: string): number {
  return Number(name.slice(NAME_PREFIX.length).split('-')[0]);
}

/**
 * Removes what benchmark runs left behind: namespaces (after killing the processes in them) and
 * links. Leftovers of a run whose process still lives are kept unless `includeLive` is set.
 * Returns what was removed.
 */
export async function cleanupLeftovers(
  options: { includeLive?: boolean } = {},
): Promise<Leftovers> {
  const found = await listLeftovers();
  const dead = (name: string) => {
    const pid = ownerPid(name);
    return options.includeLive || !Number.isInteger(pid) || pid <= 0 || !isAlive(pid);
  };
  const owners = new Set([
    ...found.namespaces.filter(dead).map((ns) => ns.split('-').slice(0, 4).join('-')),
    ...found.links.filter((link) => dead(link.owner)).map((link) => link.owner),
  ]);
  for (const owner of owners) await removeOwner(owner);
  return {
    namespaces: found.namespaces.filter(dead),
    links: found.links.filter((link) => dead(link.owner)),
  };
}

/** Deletes the namespaces and links of one network (by its owner tag) and checks they are gone. */
async function removeOwner(owner: string): Promise<void> {
  const before = await listLeftovers();
  const namespaces = before.namespaces.filter((ns) => ns.startsWith(`${owner}-`));
  const errors: string[] = [];
  for (const ns of namespaces) {
    await killNamespaceProcesses(ns);
    await run('ip', ['netns', 'del', ns]).catch((error: Error) => errors.push(error.message));
  }
  // Deleting a namespace destroys the veth pairs with an end in it; the bridge stays.
  for (const link of before.links.filter((item) => item.owner === owner)) {
    await run('ip', ['link', 'del', link.name]).catch(() => {
      // already gone with its namespace
    });
  }
  // Veth ends disappear asynchronously after their namespace is deleted.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const after = await listLeftovers();
    const left = [
      ...after.namespaces.filter((ns) => ns.startsWith(`${owner}-`)),
      ...after.links.filter((item) => item.owner === owner).map((item) => item.name),
    ];
    if (left.length === 0) break;
    if (Date.now() > deadline) {
      throw new BenchError(
        BenchErrorCode.TeardownIncomplete,
        `left after teardown of ${owner}: ${left.join(', ')}${errors.length > 0 ? `; ${errors.join('; ')}` : ''}`,
      );
    }
    for (const name of after.links.filter((item) => item.owner === owner).map((l) => l.name)) {
      await run('ip', ['link', 'del', name]).catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** SIGKILLs every process whose network namespace is `ns` (children of services included). */
async function killNamespaceProcesses(ns: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const { stdout } = await run('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
    const pids = stdout
      .split('\n')
      .map(Number)
      .filter((pid) => Number.isInteger(pid) && pid > 0);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Work directories of dead benchmark runs (`<tmp>/shoal-netbench-<pid>`), for `--cleanup`. */
export async function staleWorkDirs(tmp: string): Promise<string[]> {
  const entries = await readdir(tmp).catch(() => [] as string[]);
  return entries
    .filter((name) => /^shoal-netbench-\d+$/.test(name))
    .filter((name) => !isAlive(Number(name.slice('shoal-netbench-'.length))))
    .map((name) => `${tmp}/${name}`);
}
