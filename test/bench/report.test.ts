// The report's arithmetic: percentiles, ratios, link use, the phases read off the timeline,
// the targets, and a chart that is well-formed SVG with one line per contender.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContenderRun } from './contender.ts';
import { checkTargets, compactTimeline, percentile, svgChart, toRow } from './report.ts';

const MiB = 1024 * 1024;

/** A run of `hosts` hosts where the hosts together receive `bytes` evenly over `seconds`. */
function run(
  contender: ContenderRun['contender'],
  hosts: number,
  seconds: number,
  bytes: number,
): ContenderRun {
  const samples = Array.from({ length: seconds + 1 }, (_, t) => t);
  return {
    contender,
    seconds,
    hostSeconds: Array.from({ length: hosts }, (_, i) => seconds - i * 0.1),
    originTxBytes: bytes * 1.04,
    cpuSeconds: { origin: 1, hosts: 10, hostsInKernel: 4 },
    sentBytes: [bytes, ...Array.from({ length: hosts }, () => bytes / 2)],
    sentPackets: [bytes / 1000, ...Array.from({ length: hosts }, () => bytes / 2000)],
    timeline: {
      seconds: samples,
      received: samples.map((t) => [
        0,
        ...Array.from({ length: hosts }, () => (bytes * t) / seconds),
      ]),
      sent: samples.map(() => Array.from({ length: hosts + 1 }, () => 0)),
    },
    details: {},
  };
}

test('percentile is nearest-rank', () => {
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95), 10);
  assert.equal(percentile([7], 95), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('a row has the ratio to the ideal, link use and the phases of the transfer', () => {
  const bytes = 100 * MiB;
  const rate = 100e6;
  const ideal = (bytes * 8) / rate;
  const row = toRow(run('shoal', 4, 20, bytes), { hosts: 4, bytes, rateBitsPerS: rate });
  assert.equal(row.idealSeconds, ideal);
  assert.equal(row.ratio, 20 / ideal);
  assert.equal(row.perHost.max, 20);
  assert.equal(row.perHost.p50, 19.8);
  assert.equal(row.originCopies, 1.04);
  assert.equal(row.uplinkUse?.origin, bytes / ((rate / 8) * 20));
  assert.equal(row.uplinkUse?.hosts, bytes / 2 / ((rate / 8) * 20));
  assert.equal(row.phases.at5, 1);
  assert.equal(row.phases.at95, 19);
  // 90 % of 4 copies in 18 s, over 4 links of 12.5 MB/s.
  assert.ok(Math.abs(row.phases.steadyDownloadUse! - (0.9 * 4 * bytes) / (18 * 4 * 12.5e6)) < 1e-9);
  const loopback = toRow(run('aria2', 4, 20, bytes), { hosts: 4, bytes, rateBitsPerS: null });
  assert.equal(loopback.ratio, null);
  assert.equal(loopback.uplinkUse, null);
  assert.equal(loopback.phases.steadyDownloadUse, null);
});

test('the timeline kept in the results is thinned to 60 samples in KiB, ends included', () => {
  const long = run('http', 2, 500, 1000 * MiB).timeline;
  const compact = compactTimeline(long);
  assert.ok(compact.seconds.length <= 61 && compact.seconds.length >= 59);
  assert.equal(compact.seconds[0], 0);
  assert.equal(compact.seconds.at(-1), 500);
  assert.equal(compact.received.at(-1)?.[1], 1000 * 1024);
  assert.deepEqual(compactTimeline(run('http', 2, 3, MiB).timeline).seconds, [0, 1, 2, 3]);
});

test('targets are checked at the largest N up to 16, and missing data is not a pass', () => {
  const bytes = 256 * MiB;
  const setup = (hosts: number) => ({ hosts, bytes, rateBitsPerS: 100e6 });
  const ideal = (bytes * 8) / 100e6;
  const shaped = [
    toRow(run('shoal', 16, Math.round(1.1 * ideal), bytes), setup(16)),
    toRow(run('aria2', 16, Math.round(1.7 * ideal), bytes), setup(16)),
    toRow(run('http', 16, Math.round(17 * ideal), bytes), setup(16)),
    toRow(run('shoal', 24, Math.round(3 * ideal), bytes), setup(24)),
  ];
  const checks = checkTargets(shaped, []);
  assert.deepEqual(
    checks.map((check) => check.met),
    [true, true, true, true, null],
  );
  assert.match(checks[0]!.target, /N=16/);
});

test('the chart is SVG with a line per contender and the target line', () => {
  const bytes = 64 * MiB;
  const rows = [4, 8].flatMap((hosts) =>
    (['shoal', 'aria2', 'http'] as const).map((contender) =>
      toRow(run(contender, hosts, hosts * 3, bytes), { hosts, bytes, rateBitsPerS: 100e6 }),
    ),
  );
  const svg = svgChart(rows, 'title <&>', 'subtitle');
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<polyline /g)?.length, 3);
  assert.match(svg, /title &#60;&#38;&#62;/);
  assert.match(svg, /shoal target 1\.15×/);
  assert.ok(svg.trim().endsWith('</svg>'));
});
