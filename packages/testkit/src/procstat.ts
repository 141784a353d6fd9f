// CPU time of processes from /proc/<pid>/stat, for benchmarks: a system's cost is the CPU its
// processes (and their children, e.g. nginx workers) spent between two samples.
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc's times (USER_HZ; 100 on every Linux build in use). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime of the process itself (all its threads). */
  ownTicks: number;
  /** stime alone: time in the kernel (system calls, including the network stack). */
  systemTicks: number;
  /** cutime + cstime: children it has waited for. */
  reapedChildTicks: number;
  reapedChildSystemTicks: number;
}

/** Parses one /proc/<pid>/stat line (the command name may hold spaces and parentheses). */
export function parseProcStat(line: string): ProcStat {
  const close = line.lastIndexOf(')');
  const pid = Number(line.slice(0, line.indexOf(' ')));
  // Fields after the name, from field 3 (state): ppid is 4, utime 14, stime 15, cutime 16, cstime 17.
  const rest = line
    .slice(close + 2)
    .trim()
    .split(' ');
  const field = (n: number) => Number(rest[n - 3]);
  return {
    pid,
    ppid: field(4),
    ownTicks: field(14) + field(15),
    systemTicks: field(15),
    reapedChildTicks: field(16) + field(17),
    reapedChildSystemTicks: field(17),
  };
}

async function readAll(): Promise<ProcStat[]> {
  const entries = await readdir('/proc');
  const stats: ProcStat[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      stats.push(parseProcStat(await readFile(`/proc/${entry}/stat`, 'latin1')));
    } catch {
      // exited while we looked
    }
  }
  return stats;
}

/** CPU seconds of a process tree: all of it, and the part spent in the kernel. */
export interface Cpu {
  total: number;
  system: number;
}

/** CPU seconds per root pid: the process and every live descendant, as of now. */
export async function treeCpuSeconds(roots: readonly number[]): Promise<Map<number, Cpu>> {
  const stats = await readAll();
  const children = new Map<number, ProcStat[]>();
  for (const stat of stats) {
    const list = children.get(stat.ppid) ?? [];
    list.push(stat);
    children.set(stat.ppid, list);
  }
  const byPid = new Map(stats.map((stat) => [stat.pid, stat]));
  const result = new Map<number, Cpu>();
  for (const root of roots) {
    const start = byPid.get(root);
    if (start === undefined) {
      result.set(root, { total: 0, system: 0 });
      continue;
    }
    let ticks = 0;
    let systemTicks = 0;
    const queue = [start];
    for (let i = 0; i < queue.length && i < 10_000; i++) {
      const stat = queue[i]!;
      ticks += stat.ownTicks;
      systemTicks += stat.systemTicks;
      queue.push(...(children.get(stat.pid) ?? []));
    }
    result.set(root, { total: ticks / TICKS_PER_SECOND, system: systemTicks / TICKS_PER_SECOND });
  }
  return result;
}

/** CPU seconds of a process and what it waited for, from a stat line it printed itself. */
export function selfAndChildrenSeconds(line: string): Cpu {
  const stat = parseProcStat(line);
  return {
    total: (stat.ownTicks + stat.reapedChildTicks) / TICKS_PER_SECOND,
    system: (stat.systemTicks + stat.reapedChildSystemTicks) / TICKS_PER_SECOND,
  };
}

/** A before/after CPU meter over a set of processes that may grow while it runs. */
export class CpuMeter {
  readonly #start = new Map<number, Cpu>();

  /** Records the current CPU of `pids` (processes started later count from zero). */
  async begin(pids: readonly number[]): Promise<void> {
    for (const [pid, cpu] of await treeCpuSeconds(pids)) this.#start.set(pid, cpu);
  }

  /** CPU seconds each of `pids` spent since `begin` (or since it started, if later). */
  async spent(pids: readonly number[]): Promise<Map<number, Cpu>> {
    const now = await treeCpuSeconds(pids);
    const spent = new Map<number, Cpu>();
    for (const [pid, cpu] of now) {
      const start = this.#start.get(pid) ?? { total: 0, system: 0 };
      spent.set(pid, {
        total: Math.max(0, cpu.total - start.total),
        system: Math.max(0, cpu.system - start.system),
      });
    }
    return spent;
  }
}
