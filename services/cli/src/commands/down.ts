// `shoal down`: stops the local swarm in the run directory, whoever started it.
import { CliError, CliErrorCode } from '../errors.ts';
import type { Output } from '../output.ts';
import { stopSwarm } from '../swarm.ts';

export async function downCommand(
  { runDir, output }: { runDir: string; output: Output },
  options: { timeout: number },
): Promise<void> {
  const started = Date.now();
  const stopped = await stopSwarm(runDir, { graceMs: options.timeout * 1000 });
  if (!stopped) {
    throw new CliError(CliErrorCode.NoSwarm, `no swarm running in ${runDir}`);
  }
  const seconds = (Date.now() - started) / 1000;
  output.result({ stopped: true, runDir, seconds });
  output.line(`stopped the swarm in ${runDir} (${seconds.toFixed(1)} s)`);
}
