// The datacenter benchmark: for each N, a network of N hosts plus an origin (network
// namespaces, tc-shaped links), and on it, one after another, shoal, an aria2 swarm and an HTTP
// origin sending the same file; then the loopback variant (unshaped, CPU-bound). Writes
// results.json, results.md and chart.svg into the results folder. Run as root:
//   sudo bash scripts/bench.sh [--nodes 4,8,16] [--size-mib 256] [--rate-mbit 100] ...
//   node --conditions=source test/bench/datacenter.ts --cleanup   # remove what a killed run left
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type Artifact,
  CONTENDERS,
  type Contender,
  type ContenderName,
  MiB,
  makeArtifact,
} from './contender.ts';
import { runAria2 } from './contenders/aria2.ts';
import { runHttp } from './contenders/http.ts';
import { runShoal } from './contenders/shoal.ts';
import { BenchError, BenchErrorCode } from './errors.ts';
import {
  checkNetworkSupport,
  cleanupLeftovers,
  MAX_HOSTS,
  staleWorkDirs,
  TestNetwork,
} from './netns.ts';
import {
  checkTargets,
  diagnosticsTable,
  type Failure,
  markdownTable,
  type Row,
  svgChart,
  targetsTable,
  toRow,
} from './report.ts';

const RUNNERS: Record<ContenderName, Contender> = {
  shoal: runShoal,
  aria2: runAria2,
  http: runHttp,
};

const USAGE = `usage: datacenter.ts [options]   (as root)
  --nodes LIST            receiving hosts per run, comma-separated (default 4,8,16; 0: none)
  --size-mib N            artifact size (default 256)
  --rate-mbit N           link rate of every host, both directions (default 100)
  --delay-ms N            link delay: refused unless 0 (this kernel has no netem)
  --contenders LIST       shoal,aria2,http (default all three)
  --loopback-nodes N      hosts of the unshaped variant (default 8; 0 skips it)
  --loopback-size-mib N   its artifact size (default 1024)
  --out DIR               results folder (default test/bench/results/<date>)
  --profile               V8 CPU profiles of shoal's piece-store and first peer-node
  --shoal-log-level L     shoal's services log at level L (e.g. debug); their logs are kept
  --merge                 add to the results already in --out: a new run replaces that
                          network's row or failure for the same N and contender (e.g. to redo
                          one contender that failed); the others are kept
  --cleanup               remove namespaces, links and work folders of dead runs, then exit`;

interface Options {
  nodes: number[];
  bytes: number;
  rateBitsPerS: number;
  contenders: ContenderName[];
  loopbackNodes: number;
  loopbackBytes: number;
  out: string;
  profile: boolean;
  shoalLogLevel: string | undefined;
  merge: boolean;
}

function positiveInt(name: string, text: string, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new BenchError(BenchErrorCode.Usage, `${name} must be an integer from 0 to ${max}`);
  }
  return value;
}

function parseOptions(argv: string[]): Options | 'cleanup' {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string', default: '4,8,16' },
      'size-mib': { type: 'string', default: '256' },
      'rate-mbit': { type: 'string', default: '100' },
      'delay-ms': { type: 'string', default: '0' },
      contenders: { type: 'string', default: CONTENDERS.join(',') },
      'loopback-nodes': { type: 'string', default: '8' },
      'loopback-size-mib': { type: 'string', default: '1024' },
      out: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'shoal-log-level': { type: 'string' },
      cleanup: { type: 'boolean', default: false },
      merge: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.cleanup) return 'cleanup';
  if (positiveInt('--delay-ms', values['delay-ms'], 10_000) !== 0) {
    throw new BenchError(
      BenchErrorCode.Usage,
      '--delay-ms needs the netem qdisc, which this kernel does not have (tc: "Specified qdisc kind is unknown"); links can only be rate-shaped (tbf)',
    );
  }
  // `--nodes 0` skips the shaped sweep (only the loopback variant runs).
  const nodes = values.nodes
    .split(',')
    .map((n) => positiveInt('--nodes', n.trim(), MAX_HOSTS - 1))
    .filter((n) => n > 0);
  const contenders = values.contenders.split(',').map((name) => name.trim());
  for (const name of contenders) {
    if (!(CONTENDERS as readonly string[]).includes(name)) {
      throw new BenchError(
        BenchErrorCode.Usage,
        `unknown contender ${name} (known: ${CONTENDERS.join(', ')})`,
      );
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  return {
    nodes,
    bytes: positiveInt('--size-mib', values['size-mib'], 64 * 1024) * MiB,
    rateBitsPerS: positiveInt('--rate-mbit', values['rate-mbit'], 100_000) * 1e6,
    contenders: contenders as ContenderName[],
    loopbackNodes: positiveInt('--loopback-nodes', values['loopback-nodes'], MAX_HOSTS - 1),
    loopbackBytes: positiveInt('--loopback-size-mib', values['loopback-size-mib'], 64 * 1024) * MiB,
    out:
      values.out ??
      fileURLToPath(new URL(`./results/${date}/`, import.meta.url)).replace(/\/$/, ''),
    profile: values.profile,
    shoalLogLevel: values['shoal-log-level'],
    merge: values.merge,
  };
}

function machine(): Record<string, unknown> {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    kernel: release(),
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    tools: Object.fromEntries(
      (
        [
          ['aria2c', ['--version']],
          ['nginx', ['-v']],
          ['curl', ['--version']],
          ['nats-server', ['--version']],
        ] as const
      ).map(([tool, args]) => {
        const found = spawnSync(tool, args, { encoding: 'utf8', timeout: 5000 });
        const text = `${found.stdout ?? ''}${found.stderr ?? ''}`.trim().split('\n')[0] ?? '';
        return [tool, text];
      }),
    ),
  };
}

function stamp(): string {
  return new Date().toISOString().slice(11, 19);
}

const log = (line: string) => console.log(`[${stamp()}] ${line}`);

interface Results {
  date: string;
  machine: Record<string, unknown>;
  loadAverage: { start: number[]; end?: number[] };
  options: Record<string, unknown>;
  shaping: string;
  shaped: Row[];
  loopback: Row[];
  failures: Failure[];
  notes: string[];
}

const NOTES = [
  'N counts receiving hosts; the origin is one more host with the same link rate.',
  'ideal = artifact size ÷ per-host link rate. TCP/IP and Ethernet headers take about 4.5 % of a tbf-shaped link, so about 1.05 × ideal is the floor for any contender.',
  'Links are shaped with tbf (50 ms queue) on both ends of every veth; netem is missing from this kernel, so links have no added delay, and fq/fq_codel/sfq/cake are missing, so each link queue is one FIFO.',
  'uplink use = bytes sent ÷ (link rate × time): for the origin, and for the receiving hosts together. A swarm can only approach the ideal if the hosts upload nearly as fast as they download.',
  'mean packet sent = bytes ÷ packets on the link counters; veth passes TCP segmentation offload, so a packet may be up to 64 KiB: small means many small writes (e.g. a 13-byte message header sent alone with TCP_NODELAY).',
  'origin sent = Ethernet bytes the origin host transmitted during the run (its link counter): payload, headers, tracker and NATS replies.',
  'shoal: time from the fleet command to the last node reporting complete (pieces and whole-file SHA-256 verified). aria2: from starting the leechers to the last --on-bt-download-complete (every piece SHA-1 checked). http: from starting curl on every host to the last sha256sum. Every copy is checked against the artifact SHA-256 afterwards.',
  "CPU = user + system seconds of each contender's processes during the transfer; kernel time spent forwarding between namespaces is not attributed.",
];

async function writeResults(out: string, results: Results): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const m = results.machine;
  const rate = (results.options.rateBitsPerS as number) / 1e6;
  const size = (results.options.bytes as number) / MiB;
  const machineLine = `${results.date}, ${m.cores} × ${m.cpuModel}, Linux ${m.kernel}, ${m.memoryGiB} GiB RAM, load average ${results.loadAverage.start.map((l) => l.toFixed(1)).join(' ')} at start`;
  const subtitle = `${size} MiB, ${rate} Mbit/s per host (tbf), ${results.date}, ${m.cores} cores`;
  await writeFile(
    join(out, 'chart.svg'),
    svgChart(
      results.shaped,
      'One origin to N hosts: time until every host holds the file',
      subtitle,
    ),
  );
  const sections = [
    `# Datacenter benchmark, ${results.date}`,
    '',
    `Machine: ${machineLine}.`,
    '',
    `## ${size} MiB to N hosts over ${rate} Mbit/s links`,
    '',
    markdownTable(results.shaped),
    '',
    '![time ÷ ideal against N](chart.svg)',
    '',
    'Where the time went:',
    '',
    diagnosticsTable(results.shaped),
    '',
  ];
  if (results.loopback.length > 0) {
    const first = results.loopback[0]!;
    sections.push(
      `## Loopback: ${first.bytes / MiB} MiB to ${first.hosts} hosts, links not shaped (CPU-bound)`,
      '',
      markdownTable(results.loopback),
      '',
      diagnosticsTable(results.loopback),
      '',
    );
  }
  sections.push('## Targets', '', targetsTable(checkTargets(results.shaped, results.loopback)), '');
  if (results.failures.length > 0) {
    sections.push(
      '## Failures',
      '',
      ...results.failures.map((f) => `- ${f.network} N=${f.hosts} ${f.contender}: ${f.error}`),
      '',
    );
  }
  sections.push('## How to read it', '', ...results.notes.map((note) => `- ${note}`), '');
  await writeFile(join(out, 'results.md'), sections.join('\n'));
}

async function scratch(dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  return dir;
}

async function runNetwork(
  kind: 'shaped' | 'loopback',
  hosts: number,
  artifact: Artifact,
  rateBitsPerS: number | undefined,
  contenders: readonly ContenderName[],
  context: {
    workDir: string;
    out: string;
    profile: boolean;
    shoalLogLevel: string | undefined;
    results: Results;
  },
): Promise<void> {
  log(
    `${kind} network: ${hosts} hosts + origin, ${rateBitsPerS === undefined ? 'unshaped' : `${rateBitsPerS / 1e6} Mbit/s`}, ${artifact.bytes / MiB} MiB`,
  );
  const network = await TestNetwork.create(
    rateBitsPerS === undefined ? { hosts: hosts + 1 } : { hosts: hosts + 1, rateBitsPerS },
  );
  try {
    if (rateBitsPerS !== undefined && context.results.shaping === '') {
      context.results.shaping = await network.shaping(network.hosts[1]!);
    }
    const ideal = rateBitsPerS === undefined ? undefined : (artifact.bytes * 8) / rateBitsPerS;
    for (const contender of contenders) {
      const workDir = await scratch(join(context.workDir, `${kind}-${hosts}-${contender}`));
      const logsDir = join(context.out, 'logs', `${kind}-${hosts}`);
      const profileDir =
        context.profile && contender === 'shoal'
          ? join(context.out, 'profiles', `${kind}-${hosts}`)
          : undefined;
      if (profileDir !== undefined) await mkdir(profileDir, { recursive: true });
      // Generous bounds: a swarm should need about `ideal`, HTTP about N × ideal.
      const timeoutMs =
        ideal === undefined
          ? 900_000
          : Math.max(180_000, ideal * 1000 * (contender === 'http' ? 3 * hosts : 10));
      log(`  ${contender}: starting`);
      try {
        const run = await RUNNERS[contender]({
          network,
          artifact,
          workDir,
          logsDir,
          timeoutMs,
          log,
          ...(profileDir === undefined ? {} : { profileDir }),
          ...(context.shoalLogLevel === undefined ? {} : { shoalLogLevel: context.shoalLogLevel }),
        });
        const row = toRow(run, {
          hosts,
          bytes: artifact.bytes,
          rateBitsPerS: rateBitsPerS ?? null,
        });
        forget(context.results, kind, hosts, contender);
        context.results[kind].push(row);
        log(
          `  ${contender}: ${row.seconds.toFixed(1)} s${row.ratio === null ? '' : ` (${row.ratio.toFixed(2)} × ideal)`}, origin sent ${row.originCopies.toFixed(2)} copies, CPU ${(row.cpuSeconds.origin + row.cpuSeconds.hosts).toFixed(1)} s`,
        );
      } catch (error) {
        if (error instanceof BenchError && error.code === BenchErrorCode.Interrupted) throw error;
        const message = error instanceof Error ? error.message : String(error);
        log(`  ${contender}: FAILED: ${message.slice(0, 2000)}`);
        forget(context.results, kind, hosts, contender);
        context.results.failures.push({
          hosts,
          contender,
          network: kind,
          error: message.slice(0, 2000),
        });
      } finally {
        await rm(workDir, { recursive: true, force: true });
        context.results.loadAverage.end = loadavg();
        await writeResults(context.out, context.results);
      }
    }
  } finally {
    await network.destroy();
  }
}

/** Drops an earlier row or failure of this network, N and contender (a --merge rerun). */
function forget(
  results: Results,
  kind: 'shaped' | 'loopback',
  hosts: number,
  contender: ContenderName,
): void {
  const other = (entry: { hosts: number; contender: ContenderName }) =>
    entry.hosts !== hosts || entry.contender !== contender;
  results[kind] = results[kind].filter(other);
  results.failures = results.failures.filter(
    (failure) => failure.network !== kind || other(failure),
  );
}

/** The results already in `out` (--merge), or undefined when there are none. */
async function earlierResults(out: string): Promise<Results | undefined> {
  try {
    return JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as Results;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BenchError(
      BenchErrorCode.Usage,
      `--merge: ${join(out, 'results.json')} is unreadable: ${(error as Error).message}`,
    );
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  await checkNetworkSupport();
  if (options === 'cleanup') {
    const removed = await cleanupLeftovers();
    const dirs = await staleWorkDirs(tmpdir());
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    console.log(
      `removed ${removed.namespaces.length} namespaces, ${removed.links.length} links, ${dirs.length} work folders`,
    );
    return;
  }
  await cleanupLeftovers();
  const workDir = join(tmpdir(), `shoal-netbench-${process.pid}`);
  await scratch(workDir);
  installSignalHandlers(workDir);
  const fresh: Results = {
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
    loadAverage: { start: loadavg() },
    options: { ...options, out: undefined },
    shaping: '',
    shaped: [],
    loopback: [],
    failures: [],
    notes: NOTES,
  };
  const earlier = options.merge ? await earlierResults(options.out) : undefined;
  if (
    earlier &&
    (earlier.options.bytes !== options.bytes ||
      earlier.options.rateBitsPerS !== options.rateBitsPerS ||
      earlier.options.loopbackBytes !== options.loopbackBytes)
  ) {
    throw new BenchError(
      BenchErrorCode.Usage,
      '--merge: the results in --out were taken with another size or rate; use the same --size-mib, --rate-mbit and --loopback-size-mib',
    );
  }
  const results: Results = earlier
    ? {
        ...earlier,
        notes: [
          ...earlier.notes,
          `Rerun at ${new Date().toISOString().slice(0, 16)} UTC (--merge, load average ${loadavg()[0]!.toFixed(1)}): ${options.contenders.join(', ')} at N = ${[...options.nodes, ...(options.loopbackNodes > 0 ? [`${options.loopbackNodes} (loopback)`] : [])].join(', ')}.`,
        ],
      }
    : fresh;
  log(`results go to ${options.out}; load average ${loadavg()[0]!.toFixed(1)}`);
  try {
    const context = {
      workDir,
      out: options.out,
      profile: options.profile,
      shoalLogLevel: options.shoalLogLevel,
      results,
    };
    if (options.nodes.length > 0 && options.contenders.length > 0) {
      const artifact = await makeArtifact(await scratch(join(workDir, 'shaped')), options.bytes);
      for (const hosts of options.nodes) {
        await runNetwork(
          'shaped',
          hosts,
          artifact,
          options.rateBitsPerS,
          options.contenders,
          context,
        );
      }
      await rm(join(workDir, 'shaped'), { recursive: true, force: true });
    }
    const loopbackContenders = options.contenders.filter((name) => name !== 'http');
    if (options.loopbackNodes > 0 && loopbackContenders.length > 0) {
      const artifact = await makeArtifact(
        await scratch(join(workDir, 'loopback')),
        options.loopbackBytes,
      );
      await runNetwork(
        'loopback',
        options.loopbackNodes,
        artifact,
        undefined,
        loopbackContenders,
        context,
      );
    }
    results.loadAverage.end = loadavg();
    await writeResults(options.out, results);
    console.log(`\n${markdownTable(results.shaped)}\n`);
    if (results.loopback.length > 0) console.log(`${markdownTable(results.loopback)}\n`);
    console.log(`${targetsTable(checkTargets(results.shaped, results.loopback))}\n`);
    log(`wrote ${join(options.out, 'results.md')}, results.json, chart.svg`);
    if (results.failures.length > 0) process.exitCode = 1;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Ctrl-C, SIGTERM, SIGHUP: tear every network down (a second signal shortens the grace). */
function installSignalHandlers(workDir: string): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    console.error(`\nbench: ${signal}: stopping every process and removing the test network`);
    if (signals > 1) return;
    const teardown = Promise.all(TestNetwork.live().map((network) => network.destroy(2000)));
    void teardown
      .then(() => rm(workDir, { recursive: true, force: true }))
      .catch((error: unknown) => console.error(`bench: teardown: ${(error as Error).message}`))
      .finally(() => process.exit(130));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
}

try {
  await main();
} catch (error) {
  await Promise.all(TestNetwork.live().map((network) => network.destroy(2000))).catch(() => {});
  const code = error instanceof BenchError ? error.code : 'BENCH_ERROR';
  console.error(`bench: ${code}: ${error instanceof Error ? error.message : String(error)}`);
  if (process.env.SHOAL_DEBUG === '1') console.error(error);
  process.exitCode = error instanceof BenchError && error.code === BenchErrorCode.Usage ? 2 : 1;
}
