// Summarises V8 CPU profiles (`--cpu-prof`, as `datacenter.ts --profile` writes them): self
// time per function and per source file, busiest first, and the share of the run the main
// thread was idle. Usage: node --conditions=source test/bench/profile-summary.ts [--last S] FILE...
// (`--last S`: only the last S seconds of each profile, e.g. the transfer before the stop).
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  seconds: number;
  idleShare: number;
  functions: { name: string; selfSeconds: number; share: number }[];
  files: { file: string; selfSeconds: number; share: number }[];
}

/**
 * Self time per function and per file (microsecond deltas attributed to each sample's node),
 * over the last `lastSeconds` of the profile (all of it by default).
 */
export function summarise(profile: CpuProfile, top = 25, lastSeconds = Infinity): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  const from = profile.endTime - lastSeconds * 1e6;
  let at = profile.startTime;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < from) return;
    total += delta / 1e6;
    self.set(id, (self.get(id) ?? 0) + delta);
  });
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  let idle = 0;
  for (const [id, micros] of self) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    const seconds = micros / 1e6;
    if (frame.functionName === '(idle)') idle += seconds;
    const file = frame.url === '' ? frame.functionName || '(native)' : basename(frame.url);
    const name = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + seconds);
    files.set(file, (files.get(file) ?? 0) + seconds);
  }
  const rank = <K extends string>(map: Map<string, number>, key: K) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([label, seconds]) => ({ [key]: label, selfSeconds: seconds, share: seconds / total }));
  return {
    seconds: total,
    idleShare: idle / total,
    functions: rank(functions, 'name') as ProfileSummary['functions'],
    files: rank(files, 'file') as ProfileSummary['files'],
  };
}

function print(file: string, summary: ProfileSummary): void {
  const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)} %`;
  console.log(
    `\n${file}: ${summary.seconds.toFixed(1)} s profiled, main thread idle ${pct(summary.idleShare)}`,
  );
  console.log('  by file:');
  for (const row of summary.files.slice(0, 12)) {
    console.log(`    ${pct(row.share)}  ${row.selfSeconds.toFixed(2).padStart(7)} s  ${row.file}`);
  }
  console.log('  by function:');
  for (const row of summary.functions) {
    console.log(`    ${pct(row.share)}  ${row.selfSeconds.toFixed(2).padStart(7)} s  ${row.name}`);
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const last = args[0] === '--last' ? Number(args[1]) : Infinity;
  const files = args[0] === '--last' ? args.slice(2) : args;
  if (files.length === 0 || !(last > 0)) {
    console.error('usage: profile-summary.ts [--last SECONDS] FILE.cpuprofile...');
    process.exit(2);
  }
  for (const file of files) {
    print(file, summarise(JSON.parse(await readFile(file, 'utf8')) as CpuProfile, 25, last));
  }
}
