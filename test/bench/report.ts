// Turns contender runs into the report: rows with ratios and percentiles, the targets of
// issue 7 checked against them, a Markdown table and an SVG chart (time ÷ ideal against the
// number of hosts, one line per contender). Pure: no I/O.
import type { ContenderName, ContenderRun, Timeline } from './contender.ts';

const MiB = 1024 * 1024;

export interface Row extends ContenderRun {
  /** Receiving hosts (the origin not counted). */
  hosts: number;
  bytes: number;
  /** Per-host link rate; null on the unshaped (loopback) network. */
  rateBitsPerS: number | null;
  /** bytes ÷ link rate: how long one host's link needs for one copy. */
  idealSeconds: number | null;
  /** seconds ÷ idealSeconds. */
  ratio: number | null;
  perHost: { p50: number; p95: number; max: number };
  /** originTxBytes ÷ bytes. */
  originCopies: number;
  /**
   * Share of the upload capacity used over the run: the origin's link, and the receiving
   * hosts' links together (a swarm near the ideal keeps both near 1). Null when not shaped.
   */
  uplinkUse: { origin: number; hosts: number } | null;
  /**
   * From the link counters: when the receiving hosts together had 5 % and 95 % of what they
   * finally received, and the share of their download capacity used in between (the steady
   * state; the rest of the time is start-up and tail).
   */
  phases: { at5: number; at95: number; steadyDownloadUse: number | null };
}

export interface Failure {
  hosts: number;
  contender: ContenderName;
  network: 'shaped' | 'loopback';
  error: string;
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

/** Nearest-rank percentile of `values` (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function phases(run: ContenderRun, hosts: number, rateBitsPerS: number | null): Row['phases'] {
  const { seconds, received } = run.timeline;
  const totals = received.map((perHost) => perHost.slice(1).reduce((sum, b) => sum + b, 0));
  const final = totals.at(-1) ?? 0;
  const when = (share: number) => {
    const index = totals.findIndex((total) => total >= share * final);
    return index < 0 ? Number.NaN : seconds[index]!;
  };
  const at5 = when(0.05);
  const at95 = when(0.95);
  const span = at95 - at5;
  return {
    at5,
    at95,
    steadyDownloadUse:
      rateBitsPerS === null || !(span > 0)
        ? null
        : (0.9 * final) / (span * hosts * (rateBitsPerS / 8)),
  };
}

/** Most timeline samples a row keeps in the results (evenly spaced, first and last kept). */
const TIMELINE_POINTS = 60;

/** The timeline thinned to TIMELINE_POINTS samples, counters in KiB, to keep results small. */
export function compactTimeline(timeline: Timeline): Timeline {
  const count = timeline.seconds.length;
  const step = Math.max(1, (count - 1) / (TIMELINE_POINTS - 1));
  const picks = new Set<number>();
  for (let at = 0; Math.round(at) < count; at += step) picks.add(Math.round(at));
  if (count > 0) picks.add(count - 1);
  const kib = (values: number[]) => values.map((bytes) => Math.round(bytes / 1024));
  const keep = [...picks].sort((a, b) => a - b);
  return {
    seconds: keep.map((i) => timeline.seconds[i]!),
    received: keep.map((i) => kib(timeline.received[i]!)),
    sent: keep.map((i) => kib(timeline.sent[i]!)),
  };
}

export function toRow(
  run: ContenderRun,
  setup: { hosts: number; bytes: number; rateBitsPerS: number | null },
): Row {
  const idealSeconds = setup.rateBitsPerS === null ? null : (setup.bytes * 8) / setup.rateBitsPerS;
  return {
    ...run,
    timeline: compactTimeline(run.timeline),
    ...setup,
    idealSeconds,
    ratio: idealSeconds === null ? null : run.seconds / idealSeconds,
    perHost: {
      p50: percentile(run.hostSeconds, 50),
      p95: percentile(run.hostSeconds, 95),
      max: Math.max(...run.hostSeconds),
    },
    originCopies: run.originTxBytes / setup.bytes,
    phases: phases(run, setup.hosts, setup.rateBitsPerS),
    uplinkUse:
      setup.rateBitsPerS === null
        ? null
        : {
            origin: (run.sentBytes[0] ?? 0) / ((setup.rateBitsPerS / 8) * run.seconds),
            hosts:
              run.sentBytes.slice(1).reduce((sum, bytes) => sum + bytes, 0) /
              (setup.hosts * (setup.rateBitsPerS / 8) * run.seconds),
          },
  };
}

/** The targets of issue 7, at the largest N measured up to 16 (16 in a full sweep). */
export function checkTargets(shaped: readonly Row[], loopback: readonly Row[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const sizes = [...new Set(shaped.map((row) => row.hosts))].sort((a, b) => a - b);
  const at = sizes.filter((n) => n <= 16).at(-1) ?? sizes.at(-1);
  const find = (rows: readonly Row[], contender: ContenderName, hosts?: number) =>
    rows.find((row) => row.contender === contender && (hosts === undefined || row.hosts === hosts));
  if (at !== undefined) {
    const shoal = find(shaped, 'shoal', at);
    const aria2 = find(shaped, 'aria2', at);
    const http = find(shaped, 'http', at);
    checks.push({
      target: `shoal at N=${at}: time ≤ 1.15 × ideal`,
      measured: shoal?.ratio == null ? 'not measured' : `${shoal.ratio.toFixed(2)} × ideal`,
      met: shoal?.ratio == null ? null : shoal.ratio <= 1.15,
    });
    checks.push({
      target: `shoal at N=${at}: faster than the aria2 swarm`,
      measured:
        shoal === undefined || aria2 === undefined
          ? 'not measured'
          : `${shoal.seconds.toFixed(1)} s vs ${aria2.seconds.toFixed(1)} s (${(aria2.seconds / shoal.seconds).toFixed(2)} ×)`,
      met: shoal === undefined || aria2 === undefined ? null : shoal.seconds < aria2.seconds,
    });
    checks.push({
      target: `shoal at N=${at}: ≥ 10 × faster than the HTTP origin`,
      measured:
        shoal === undefined || http === undefined
          ? 'not measured'
          : `${(http.seconds / shoal.seconds).toFixed(2)} ×`,
      met: shoal === undefined || http === undefined ? null : http.seconds / shoal.seconds >= 10,
    });
  }
  const shoalRows = shaped.filter((row) => row.contender === 'shoal');
  checks.push({
    target: 'shoal: origin sent ≤ 1.2 × the artifact at every N (link bytes, headers included)',
    measured:
      shoalRows.length === 0
        ? 'not measured'
        : shoalRows.map((row) => `N=${row.hosts}: ${row.originCopies.toFixed(2)}`).join(', '),
    met: shoalRows.length === 0 ? null : shoalRows.every((row) => row.originCopies <= 1.2),
  });
  const loopShoal = find(loopback, 'shoal');
  const loopAria2 = find(loopback, 'aria2');
  checks.push({
    target: 'loopback: shoal no slower than aria2',
    measured:
      loopShoal === undefined || loopAria2 === undefined
        ? 'not measured'
        : `${loopShoal.seconds.toFixed(1)} s vs ${loopAria2.seconds.toFixed(1)} s`,
    met:
      loopShoal === undefined || loopAria2 === undefined
        ? null
        : loopShoal.seconds <= loopAria2.seconds,
  });
  return checks;
}

const LABELS: Record<ContenderName, string> = {
  shoal: 'shoal',
  aria2: 'aria2 swarm + opentracker',
  http: 'HTTP origin (nginx + curl)',
};

function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? '–'
    : value.toFixed(digits);
}

function percent(share: number): string {
  return Number.isFinite(share) ? `${Math.round(share * 100)} %` : '–';
}

/** A Markdown table of rows, one per (N, contender). */
export function markdownTable(rows: readonly Row[]): string {
  const header = [
    'hosts',
    'contender',
    'time (s)',
    '× ideal',
    'per host p50 / p95 / max (s)',
    'origin sent (copies)',
    'CPU s (origin + hosts)',
  ];
  const body = sortRows(rows).map((row) => [
    String(row.hosts),
    LABELS[row.contender],
    fixed(row.seconds, 1),
    fixed(row.ratio, 2),
    `${fixed(row.perHost.p50, 1)} / ${fixed(row.perHost.p95, 1)} / ${fixed(row.perHost.max, 1)}`,
    fixed(row.originCopies, 2),
    `${fixed(row.cpuSeconds.origin, 1)} + ${fixed(row.cpuSeconds.hosts, 1)}`,
  ]);
  return renderTable(header, body);
}

/** Where the time went: start-up, steady state, tail; how much link capacity was used. */
export function diagnosticsTable(rows: readonly Row[]): string {
  const header = [
    'hosts',
    'contender',
    '5 % / 95 % delivered at (s)',
    'download use, 5-95 %',
    'uplink use: origin / hosts',
    'host CPU per MiB received (in kernel)',
    'mean packet sent: origin / hosts (B)',
  ];
  const body = sortRows(rows).map((row) => [
    String(row.hosts),
    LABELS[row.contender],
    `${fixed(row.phases.at5, 0)} / ${fixed(row.phases.at95, 0)}`,
    row.phases.steadyDownloadUse === null ? '–' : percent(row.phases.steadyDownloadUse),
    row.uplinkUse === null
      ? '–'
      : `${percent(row.uplinkUse.origin)} / ${percent(row.uplinkUse.hosts)}`,
    `${fixed((1000 * row.cpuSeconds.hosts) / ((row.hosts * row.bytes) / MiB), 1)} ms (${percent(row.cpuSeconds.hostsInKernel / row.cpuSeconds.hosts)})`,
    `${fixed((row.sentBytes[0] ?? 0) / (row.sentPackets[0] ?? 0), 0)} / ${fixed(sum(row.sentBytes.slice(1)) / sum(row.sentPackets.slice(1)), 0)}`,
  ]);
  return renderTable(header, body);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function sortRows(rows: readonly Row[]): Row[] {
  return [...rows].sort((a, b) => a.hosts - b.hosts || a.contender.localeCompare(b.contender));
}

function renderTable(header: readonly string[], body: readonly string[][]): string {
  const widths = header.map((cell, c) => Math.max(cell.length, ...body.map((r) => r[c]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export function targetsTable(checks: readonly TargetCheck[]): string {
  const rows = checks.map(
    (check) =>
      `| ${check.target} | ${check.measured} | ${check.met === null ? '–' : check.met ? 'met' : 'missed'} |`,
  );
  return ['| target | measured | |', '| --- | --- | --- |', ...rows].join('\n');
}

const COLORS: Record<ContenderName, string> = {
  shoal: '#1565c0',
  aria2: '#ef6c00',
  http: '#2e7d32',
};

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Time ÷ ideal against the number of hosts, one line per contender, on a log₂ y axis (HTTP
 * grows with N, swarms stay near 1: a linear axis would flatten the swarms).
 */
export function svgChart(rows: readonly Row[], title: string, subtitle: string): string {
  const width = 720;
  const height = 440;
  const plot = { left: 70, right: 230, top: 64, bottom: 56 };
  const plotted = rows.filter((row) => row.ratio !== null && Number.isFinite(row.ratio));
  const xs = [...new Set(plotted.map((row) => row.hosts))].sort((a, b) => a - b);
  const maxRatio = Math.max(2, ...plotted.map((row) => row.ratio!));
  const yTop = 2 ** Math.ceil(Math.log2(maxRatio));
  const xMin = Math.min(...xs, 0);
  const xMax = Math.max(...xs, 1);
  const innerW = width - plot.left - plot.right;
  const innerH = height - plot.top - plot.bottom;
  const x = (n: number) => plot.left + ((n - xMin) / (xMax - xMin || 1)) * innerW;
  const y = (ratio: number) => plot.top + innerH - (Math.log2(ratio) / Math.log2(yTop)) * innerH;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${plot.left}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${plot.left}" y="44" fill="#555">${escapeXml(subtitle)}</text>`,
  );
  for (let tick = 1; tick <= yTop; tick *= 2) {
    parts.push(
      `<line x1="${plot.left}" x2="${width - plot.right}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e0e0e0"/>`,
      `<text x="${plot.left - 8}" y="${y(tick) + 4}" text-anchor="end">${tick}×</text>`,
    );
  }
  parts.push(
    `<line x1="${plot.left}" x2="${width - plot.right}" y1="${y(1.15)}" y2="${y(1.15)}" stroke="#1565c0" stroke-dasharray="4 4" opacity="0.6"/>`,
    `<text x="${width - plot.right + 6}" y="${y(1.15) + 4}" fill="#1565c0">shoal target 1.15×</text>`,
  );
  for (const n of xs) {
    parts.push(
      `<line x1="${x(n)}" x2="${x(n)}" y1="${plot.top + innerH}" y2="${plot.top + innerH + 5}" stroke="#333"/>`,
      `<text x="${x(n)}" y="${plot.top + innerH + 20}" text-anchor="middle">${n}</text>`,
    );
  }
  parts.push(
    `<line x1="${plot.left}" x2="${width - plot.right}" y1="${plot.top + innerH}" y2="${plot.top + innerH}" stroke="#333"/>`,
    `<line x1="${plot.left}" x2="${plot.left}" y1="${plot.top}" y2="${plot.top + innerH}" stroke="#333"/>`,
    `<text x="${plot.left + innerW / 2}" y="${height - 14}" text-anchor="middle">receiving hosts (N)</text>`,
    `<text transform="translate(18 ${plot.top + innerH / 2}) rotate(-90)" text-anchor="middle">time to every host ÷ ideal (log scale)</text>`,
  );
  let legendY = plot.top + 10;
  for (const contender of ['shoal', 'aria2', 'http'] as const) {
    const points = plotted
      .filter((row) => row.contender === contender)
      .sort((a, b) => a.hosts - b.hosts);
    if (points.length === 0) continue;
    const color = COLORS[contender];
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${points.map((p) => `${x(p.hosts).toFixed(1)},${y(p.ratio!).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of points) {
      parts.push(
        `<circle cx="${x(p.hosts).toFixed(1)}" cy="${y(p.ratio!).toFixed(1)}" r="4" fill="${color}"/>`,
        `<text x="${(x(p.hosts) + 6).toFixed(1)}" y="${(y(p.ratio!) - 7).toFixed(1)}" fill="${color}" font-size="11">${p.ratio!.toFixed(2)}</text>`,
      );
    }
    parts.push(
      `<rect x="${width - plot.right + 6}" y="${legendY + 20}" width="14" height="4" fill="${color}"/>`,
      `<text x="${width - plot.right + 26}" y="${legendY + 26}">${escapeXml(LABELS[contender])}</text>`,
    );
    legendY += 22;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
