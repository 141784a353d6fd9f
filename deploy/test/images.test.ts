// The container images without a container engine: build each service's pruned production
// deployment exactly as deploy/docker/Dockerfile does, then start it as the image and the chart
// would (the image's WORKDIR, ENV and the chart's command and env), with a real nats-server,
// and check the chart's probe paths, the peer-node's init step and the `helm test` script.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  type AfterHook,
  freePort,
  type ManagedProcess,
  onCleanup,
  startNatsServer,
  startProcess,
  waitFor,
} from '@shoal/testkit';
import { FakeKubeApi } from '../../services/autoscaler/test/fake-kube-api.ts';
import {
  FIELD_SAMPLES,
  type K8sObject,
  NAMESPACE,
  podSpec,
  REPO_ROOT,
  render,
  resolveEnv,
} from './helpers.ts';

const run = promisify(execFile);
const SERVICES = ['tracker', 'piece-store', 'peer-node', 'autoscaler'] as const;
type Service = (typeof SERVICES)[number];

interface Stage {
  from: string;
  env: Record<string, string>;
  workdir?: string;
  cmd?: string[];
  user?: string;
  copies: { from?: string; source: string; target: string }[];
  runs: string[];
}

/** The stages of a Dockerfile (the subset of instructions ours uses), by name. */
function parseDockerfile(text: string): {
  args: Record<string, string>;
  stages: Map<string, Stage>;
} {
  const args: Record<string, string> = {};
  const stages = new Map<string, Stage>();
  let stage: Stage | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [instruction = '', ...rest] = line.split(/\s+/);
    const body = rest.join(' ');
    switch (instruction.toUpperCase()) {
      case 'ARG': {
        const [name = '', value = ''] = body.split('=');
        args[name] = value;
        break;
      }
      case 'FROM': {
        const match = /^(\S+)\s+AS\s+(\S+)$/i.exec(body);
        assert.ok(match, `FROM without a stage name: ${line}`);
        stage = { from: match[1]!, env: {}, copies: [], runs: [] };
        stages.set(match[2]!, stage);
        break;
      }
      case 'ENV':
        for (const pair of body.split(/\s+/)) {
          const [name = '', value = ''] = pair.split('=');
          stage!.env[name] = value;
        }
        break;
      case 'WORKDIR':
        stage!.workdir = body;
        break;
      case 'USER':
        stage!.user = body;
        break;
      case 'CMD':
        stage!.cmd = JSON.parse(body) as string[];
        break;
      case 'RUN':
        stage!.runs.push(body);
        break;
      case 'COPY': {
        const from = /--from=(\S+)/.exec(body)?.[1];
        const paths = body.split(/\s+/).filter((part) => !part.startsWith('--'));
        stage!.copies.push({
          ...(from === undefined ? {} : { from }),
          source: paths[0]!,
          target: paths.at(-1)!,
        });
        break;
      }
    }
  }
  return { args, stages };
}

/** What a target stage runs with, its parent stages included. */
function effective(stages: Map<string, Stage>, name: string): Stage {
  const own = stages.get(name);
  assert.ok(own, `stage ${name}`);
  const parent = stages.has(own.from) ? effective(stages, own.from) : undefined;
  return {
    from: own.from,
    env: { ...parent?.env, ...own.env },
    ...((own.workdir ?? parent?.workdir) === undefined
      ? {}
      : { workdir: own.workdir ?? parent?.workdir }),
    ...((own.cmd ?? parent?.cmd) === undefined ? {} : { cmd: own.cmd ?? parent?.cmd }),
    ...((own.user ?? parent?.user) === undefined ? {} : { user: own.user ?? parent?.user }),
    copies: [...(parent?.copies ?? []), ...own.copies],
    runs: [...(parent?.runs ?? []), ...own.runs],
  };
}

/** Every directory of workspace package code in a deployment, and every symlink in it. */
async function walk(
  dir: string,
  found: { dirs: string[]; links: string[] },
  depth = 0,
): Promise<void> {
  if (depth > 12) return;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) found.links.push(path);
    else if (entry.isDirectory()) {
      found.dirs.push(path);
      await walk(path, found, depth + 1);
    }
  }
}

function containerOf(
  objects: K8sObject[],
  kind: string,
  name: string,
  container: string,
  init = false,
): K8sObject {
  const workload = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(workload, `${kind}/${name} rendered`);
  const list = (
    init ? podSpec(workload).initContainers : podSpec(workload).containers
  ) as K8sObject[];
  const found = list.find((c) => c.name === container);
  assert.ok(found, `${name}: container ${container}`);
  return found;
}

/** Starts `container`'s command from `cwd` with the image's env, the chart's, then `overrides`. */
async function startContainer(
  t: AfterHook,
  options: {
    name: string;
    container: K8sObject;
    image: Stage;
    cwd: string;
    overrides: Record<string, string>;
    args?: (args: string[]) => string[];
    readyUrl?: string;
  },
): Promise<ManagedProcess> {
  const [program, ...args] = options.container.command as string[];
  assert.equal(program, 'node');
  return startProcess(process.execPath, options.args?.(args) ?? args, {
    name: options.name,
    cwd: options.cwd,
    // Nothing from the test runner: no source condition, no stray SHOAL_* settings.
    env: {
      NODE_OPTIONS: undefined,
      ...options.image.env,
      ...resolveEnv(options.container),
      ...options.overrides,
    },
    ...(options.readyUrl === undefined ? {} : { ready: { url: options.readyUrl } }),
    readyTimeoutMs: 30_000,
    t,
  });
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

describe('container images', () => {
  const dockerfile = parseDockerfile(
    readFileSync(join(REPO_ROOT, 'deploy/docker/Dockerfile'), 'utf8'),
  );

  it('has one non-root target per service running its deployment', async () => {
    const root = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      packageManager: string;
    };
    assert.equal(`pnpm@${dockerfile.args.PNPM_VERSION}`, root.packageManager, 'the pinned pnpm');
    const build = dockerfile.stages.get('build');
    assert.ok(
      build?.runs.some((r) => r.includes(`build-deployment.sh /out ${SERVICES.join(' ')}`)),
    );
    for (const service of SERVICES) {
      const image = effective(dockerfile.stages, service);
      assert.deepEqual(image.cmd, ['node', 'dist/main.js'], `${service}: entry point`);
      assert.match(image.user ?? '', /^[1-9]\d*:[1-9]\d*$/, `${service}: numeric non-root user`);
      assert.deepEqual(
        image.copies.filter((c) => c.from === 'build'),
        [{ from: 'build', source: `/out/${service}`, target: image.workdir }],
        `${service}: its deployment in WORKDIR`,
      );
    }
  });

  it('runs every service from its pruned deployment as the image and the chart would', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-images-'));
    onCleanup(t, () => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'out');

    // The build stage's commands, in the workspace that is already installed.
    const builtAt = performance.now();
    const filters = SERVICES.map((s) => `--filter=@shoal/${s}`);
    await run('pnpm', ['turbo', 'run', 'build', ...filters, '--output-logs=errors-only'], {
      cwd: REPO_ROOT,
      timeout: 180_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    await run('sh', ['deploy/docker/build-deployment.sh', out, ...SERVICES], {
      cwd: REPO_ROOT,
      timeout: 120_000,
    });
    t.diagnostic(`build and deployments took ${Math.round(performance.now() - builtAt)} ms`);

    for (const service of SERVICES) {
      const root = join(out, service);
      const found = { dirs: [] as string[], links: [] as string[] };
      await walk(root, found);
      const shoalDirs = found.dirs.filter(
        (d) => /node_modules\/@shoal\/[a-z-]+$/.test(d) || d === root,
      );
      assert.ok(shoalDirs.length > 1, `${service}: workspace packages copied in`);
      for (const pkg of [
        root,
        ...found.dirs.filter((d) =>
          /\.pnpm\/@shoal\+[^/]+\/node_modules\/@shoal\/[a-z-]+$/.test(d),
        ),
      ]) {
        for (const dropped of ['src', 'test', 'bench']) {
          await assert.rejects(
            lstat(join(pkg, dropped)),
            `${relative(out, pkg)}/${dropped} is left out`,
          );
        }
        await lstat(join(pkg, 'dist/index.js')).catch(() => lstat(join(pkg, 'dist/main.js')));
      }
      for (const link of found.links) {
        const target = resolve(dirname(link), await readlink(link));
        assert.ok(
          (await realpath(target)).startsWith(`${await realpath(root)}/`),
          `${relative(out, link)} stays inside the deployment`,
        );
      }
    }

    const nats = await startNatsServer({ t });
    const objects = await render({ name: 'defaults' });
    const kube = new FakeKubeApi(NAMESPACE);
    await kube.start(dir);
    onCleanup(t, () => kube.stop());
    const statefulSet = objects.find(
      (o) => o.kind === 'StatefulSet' && o.metadata.name.endsWith('-piece-store'),
    );
    kube.addStatefulSet(statefulSet!.metadata.name, 1);
    kube.addNode(FIELD_SAMPLES['spec.nodeName']!, {
      'topology.kubernetes.io/zone': 'zone-a',
      rack: 'rack-1',
      'kubernetes.io/hostname': 'node-a',
    });
    const kubeconfig = await kube.writeKubeconfig(dir);
    const image = (service: Service) => effective(dockerfile.stages, service);
    const cwd = (service: Service) => join(out, service);
    const local = { host: '127.0.0.1' };
    const ports = {
      tracker: await freePort(),
      pieceStoreGrpc: await freePort(),
      pieceStoreHttp: await freePort(),
      pieceStoreWire: await freePort(),
      peerWire: await freePort(),
      peerHttp: await freePort(),
      autoscaler: await freePort(),
    };
    const common = { SHOAL_NATS_URL: nats.url, SHOAL_LOG_LEVEL: 'info' };
    const probeUrl = (port: number, container: K8sObject, probe: string) =>
      `http://${local.host}:${port}${container[probe].httpGet.path as string}`;

    const tracker = containerOf(objects, 'Deployment', 'shoal-tracker', 'tracker');
    const pieceStore = containerOf(objects, 'StatefulSet', 'shoal-piece-store', 'piece-store');
    const peerNode = containerOf(objects, 'DaemonSet', 'shoal-peer-node', 'peer-node');
    const nodeLabels = containerOf(objects, 'DaemonSet', 'shoal-peer-node', 'node-labels', true);
    const autoscaler = containerOf(objects, 'Deployment', 'shoal-autoscaler', 'autoscaler');

    const processes: ManagedProcess[] = [];
    processes.push(
      await startContainer(t, {
        name: 'tracker',
        container: tracker,
        image: image('tracker'),
        cwd: cwd('tracker'),
        overrides: {
          ...common,
          SHOAL_TRACKER_HTTP_HOST: local.host,
          SHOAL_TRACKER_HTTP_PORT: String(ports.tracker),
        },
        readyUrl: probeUrl(ports.tracker, tracker, 'readinessProbe'),
      }),
    );
    processes.push(
      await startContainer(t, {
        name: 'piece-store',
        container: pieceStore,
        image: image('piece-store'),
        cwd: cwd('piece-store'),
        overrides: {
          ...common,
          SHOAL_DATA_DIR: join(dir, 'piece-store'),
          SHOAL_PIECE_STORE_GRPC_HOST: local.host,
          SHOAL_PIECE_STORE_GRPC_PORT: String(ports.pieceStoreGrpc),
          SHOAL_PIECE_STORE_HTTP_HOST: local.host,
          SHOAL_PIECE_STORE_HTTP_PORT: String(ports.pieceStoreHttp),
          SHOAL_PIECE_STORE_WIRE_HOST: local.host,
          SHOAL_PIECE_STORE_WIRE_PORT: String(ports.pieceStoreWire),
          SHOAL_PIECE_STORE_ADVERTISE_IP: local.host,
        },
        readyUrl: probeUrl(ports.pieceStoreHttp, pieceStore, 'readinessProbe'),
      }),
    );

    // The peer-node's init step, from the autoscaler image, against the API server.
    const labelsFile = join(dir, 'node-labels.env');
    const init = await startContainer(t, {
      name: 'node-labels',
      container: nodeLabels,
      image: image('autoscaler'),
      cwd: cwd('autoscaler'),
      overrides: { SHOAL_NODE_LABELS_OUTPUT: labelsFile, SHOAL_AUTOSCALER_KUBECONFIG: kubeconfig },
    });
    assert.deepEqual(await init.exited, { code: 0, signal: null }, init.logs());
    assert.equal(await readFile(labelsFile, 'utf8'), 'SHOAL_ZONE=zone-a\nSHOAL_RACK=rack-1\n');

    const peer = await startContainer(t, {
      name: 'peer-node',
      container: peerNode,
      image: image('peer-node'),
      cwd: cwd('peer-node'),
      overrides: {
        ...common,
        SHOAL_DATA_DIR: join(dir, 'peer'),
        SHOAL_GRPC_SOCKET: join(dir, 'peer.sock'),
        SHOAL_WIRE_HOST: local.host,
        SHOAL_WIRE_PORT: String(ports.peerWire),
        SHOAL_HTTP_HOST: local.host,
        SHOAL_HTTP_PORT: String(ports.peerHttp),
        SHOAL_ADVERTISE_IP: local.host,
        SHOAL_PIECE_STORE_ADDRESS: `${local.host}:${ports.pieceStoreGrpc}`,
      },
      args: (args) =>
        args.map((arg) => (arg.startsWith('--env-file=') ? `--env-file=${labelsFile}` : arg)),
      readyUrl: probeUrl(ports.peerHttp, peerNode, 'readinessProbe'),
    });
    processes.push(peer);
    const ready = JSON.parse(await peer.waitForLine(/"msg":"peer-node ready"/, 5000)) as {
      labels: Record<string, string>;
    };
    assert.equal(ready.labels.zone, 'zone-a', 'zone from the Node object');
    assert.equal(ready.labels.rack, 'rack-1', 'rack from the Node object');

    processes.push(
      await startContainer(t, {
        name: 'autoscaler',
        container: autoscaler,
        image: image('autoscaler'),
        cwd: cwd('autoscaler'),
        overrides: {
          ...common,
          SHOAL_AUTOSCALER_KUBECONFIG: kubeconfig,
          SHOAL_AUTOSCALER_HTTP_HOST: local.host,
          SHOAL_AUTOSCALER_HTTP_PORT: String(ports.autoscaler),
        },
        readyUrl: probeUrl(ports.autoscaler, autoscaler, 'readinessProbe'),
      }),
    );

    // Every probe and the metrics path of the chart answer on every service.
    for (const [container, port] of [
      [tracker, ports.tracker],
      [pieceStore, ports.pieceStoreHttp],
      [peerNode, ports.peerHttp],
      [autoscaler, ports.autoscaler],
    ] as const) {
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        assert.equal(
          (await get(probeUrl(port, container, probe))).status,
          200,
          `${container.name} ${probe}`,
        );
      }
      const metrics = await get(`http://${local.host}:${port}/metrics`);
      assert.equal(metrics.status, 200);
      assert.ok(/^shoal_[a-z_]+[{ ]/m.test(metrics.body), `${container.name} metrics`);
    }
    // The autoscaler leads and brings the piece-store (created with 1 replica) to its minimum.
    assert.equal(
      kube.lease('shoal-autoscaler')?.spec.holderIdentity,
      FIELD_SAMPLES['metadata.name'],
    );
    await waitFor(() => kube.replicas(statefulSet!.metadata.name) === 2, {
      timeoutMs: 10_000,
      description: 'the autoscaler to scale the piece-store to its minimum',
    });

    // The `helm test` pod's own script, pointed at these services.
    const testPod = objects.find(
      (o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test',
    );
    const check = podSpec(testPod!).containers[0] as K8sObject;
    const scrape = new URL(resolveEnv(check).SCRAPE_URL!);
    const checker = await startContainer(t, {
      name: 'helm-test',
      container: check,
      image: image('tracker'),
      cwd: cwd('tracker'),
      overrides: {
        READY_URLS: [
          `http://${local.host}:${ports.tracker}/readyz`,
          `http://${local.host}:${ports.pieceStoreHttp}/readyz`,
          `http://${local.host}:${ports.autoscaler}/readyz`,
        ].join(' '),
        SCRAPE_URL: `http://${local.host}:${ports.tracker}${scrape.pathname}${scrape.search}`,
      },
    });
    assert.deepEqual(await checker.exited, { code: 0, signal: null }, checker.logs());
    assert.equal(checker.logs().match(/^ok /gm)?.length, 4);

    // SIGTERM: each shuts down cleanly, from built code too.
    for (const child of processes.reverse()) {
      assert.deepEqual(
        await child.stop(15_000),
        { code: 0, signal: null },
        `${child.name}: ${child.logs().slice(-2000)}`,
      );
    }
  });
});
