import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  formatBytes,
  formatDuration,
  formatPercent,
  formatRate,
  renderTable,
} from '../src/format.ts';

test('formatBytes uses binary units with one decimal', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(1024 ** 3), '1.0 GiB');
  assert.equal(formatBytes(-1), '?');
  assert.equal(formatRate(10 * 1024 * 1024), '10.0 MiB/s');
});

test('formatDuration scales from milliseconds to hours', () => {
  assert.equal(formatDuration(0.25), '250ms');
  assert.equal(formatDuration(12.34), '12.3s');
  assert.equal(formatDuration(245), '4m05s');
  assert.equal(formatDuration(7380), '2h03m');
  assert.equal(formatDuration(undefined), '?');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), '?');
});

test('formatPercent guards a zero whole', () => {
  assert.equal(formatPercent(1, 4), '25.0%');
  assert.equal(formatPercent(1, 0), '-');
});

test('renderTable pads columns and right-aligns numbers', () => {
  const table = renderTable(
    ['node', 'state', 'bytes'],
    [
      ['node-0', 'complete', '12.0 MiB'],
      ['node-10', 'lost', '3 B'],
    ],
  );
  assert.equal(
    table,
    [
      'node     state     bytes',
      '-------  --------  --------',
      'node-0   complete  12.0 MiB',
      'node-10  lost           3 B',
    ].join('\n'),
  );
});

test('renderTable: no line is wider than the rule under the header', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.string({ maxLength: 12 }), { minLength: 3, maxLength: 3 }), {
        maxLength: 10,
      }),
      (rows) => {
        const lines = renderTable(['a', 'b', 'c'], rows).split('\n');
        assert.equal(lines.length, rows.length + 2);
        const width = lines[1]!.length;
        for (const line of lines) assert.ok(line.length <= width);
      },
    ),
  );
});
