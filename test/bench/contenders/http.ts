// An HTTP origin on the test network: nginx (sendfile) on the origin host, `curl` on every other
// host at the same moment, each followed by `sha256sum` of its copy: a host is done when its
// copy is on disk and its digest is known, as a deployment script would do.
import { link, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ManagedProcess, requireExecutable, selfAndChildrenSeconds } from '@shoal/testkit';
import { type ContenderRun, type RunContext, RunWindow, saveLogs, within } from '../contender.ts';
import { BenchError, BenchErrorCode } from '../errors.ts';

const PORT = 8080;

/**
 * Runs in each host: download, hash, then print the shell's own /proc stat line, whose cutime
 * and cstime hold the CPU of curl and sha256sum (children it has waited for).
 */
const HOST_SCRIPT =
  'curl -sS --fail -o "$1" "$2" || exit 1; sha256sum "$1" || exit 1; cat /proc/$$/stat';

export async function runHttp(context: RunContext): Promise<ContenderRun> {
  const { network, artifact, workDir } = context;
  const origin = network.origin;
  const hosts = network.hosts.slice(1);
  const nginx = requireExecutable('nginx', 'nginx-light');
  requireExecutable('curl');
  const started: ManagedProcess[] = [];
  let measuring: RunWindow | undefined;
  try {
    const root = join(workDir, 'www');
    await mkdir(root, { recursive: true, mode: 0o755 });
    await link(artifact.path, join(root, artifact.name));
    await writeFile(join(root, 'ready.txt'), 'ok\n', { mode: 0o644 });
    const config = join(workDir, 'nginx.conf');
    await writeFile(config, nginxConfig(workDir, root, origin.ip));
    const server = await network.spawn(
      origin,
      nginx,
      ['-p', workDir, '-c', config, '-e', 'stderr', '-g', 'daemon off;'],
      {
        name: 'nginx',
        ready: { url: `http://${origin.ip}:${PORT}/ready.txt` },
        readyTimeoutMs: 30_000,
      },
    );
    started.push(server);

    const url = `http://${origin.ip}:${PORT}/${artifact.name}`;
    const outputs = hosts.map((host) => join(workDir, `host-${host.index}.bin`));
    measuring = await RunWindow.begin(network, [server.pid]);
    const startedMs = Date.now();
    const results = await within(
      Promise.all(
        hosts.map((host, i) =>
          network.exec(host, '/bin/sh', ['-c', HOST_SCRIPT, 'sh', outputs[i]!, url], {
            timeoutMs: context.timeoutMs,
          }),
        ),
      ),
      context.timeoutMs + 10_000,
      'curl on every host',
    );
    const measured = await measuring.end([server.pid]);
    const nginxCpu = measured.cpu.get(server.pid)?.total ?? 0;

    let hostCpu = 0;
    let hostKernel = 0;
    const hostSeconds: number[] = [];
    const problems: string[] = [];
    results.forEach((result, i) => {
      const lines = result.stdout.trim().split('\n');
      const digest = lines[0]?.split(/\s+/)[0];
      if (result.code !== 0 || digest !== artifact.sha256 || lines.length < 2) {
        problems.push(
          `host ${hosts[i]!.index}: exit ${result.code ?? result.signal}, sha256 ${digest ?? '-'}, ${result.stderr.trim()}`,
        );
        return;
      }
      const cpu = selfAndChildrenSeconds(lines[1]!);
      hostCpu += cpu.total;
      hostKernel += cpu.system;
      hostSeconds.push((result.endedMs - startedMs) / 1000);
    });
    if (problems.length > 0) {
      throw new BenchError(BenchErrorCode.ContenderFailed, `http: ${problems.join('; ')}`);
    }
    return {
      contender: 'http',
      seconds: Math.max(...hostSeconds),
      hostSeconds,
      originTxBytes: measured.originTxBytes,
      sentBytes: measured.sentBytes,
      sentPackets: measured.sentPackets,
      timeline: measured.timeline,
      cpuSeconds: { origin: nginxCpu, hosts: hostCpu, hostsInKernel: hostKernel },
      details: { server: 'nginx sendfile, 2 workers', client: 'curl + sha256sum' },
    };
  } catch (error) {
    await saveLogs(join(context.logsDir, 'http'), started).catch(() => {});
    throw error;
  } finally {
    measuring?.abandon();
    for (const child of started) await child.stop(5000);
  }
}

function nginxConfig(prefix: string, root: string, ip: string): string {
  return `# Written by test/bench for one run.
worker_processes 2;
pid ${prefix}/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen ${ip}:${PORT};
    root ${root};
  }
}
`;
}
