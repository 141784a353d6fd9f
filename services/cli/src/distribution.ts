// Follows one fleet-wide distribution from the nodes' progress reports: which nodes are done,
// which is slowest, the aggregate rate, and the final summary (wall time, throughput, bytes
// from the origin versus from peers). Pure: reports and the clock come in as arguments.
import type { FleetProgress } from '@shoal/bus';

export type NodeState = FleetProgress['state'] | 'pending' | 'lost';

export interface NodeOutcome {
  nodeId: string;
  state: NodeState;
  bytesDone: number;
  bytesTotal: number;
  rateBytesPerS: number;
  peers: number;
  bytesFromOrigin: number;
  bytesFromPeers: number;
  path?: string;
  error?: string;
  /** Seconds from the command to the node's final report. */
  seconds?: number;
}

export interface DistributionSnapshot {
  bytesDone: number;
  bytesTotal: number;
  nodesDone: number;
  nodesTotal: number;
  rateBytesPerS: number;
  slowest?: { nodeId: string; fraction: number };
}

export interface DistributionSummary {
  nodes: NodeOutcome[];
  complete: number;
  failed: number;
  lost: number;
  /** From the command to the last final report. */
  wallSeconds: number;
  /** Bytes now held by the nodes that completed. */
  bytesDelivered: number;
  throughputBytesPerS: number;
  bytesFromOrigin: number;
  bytesFromPeers: number;
  /** Share of the bytes that came from peers instead of the origin, 0-100. */
  originOffloadPercent: number;
}

const FINAL: ReadonlySet<NodeState> = new Set(['complete', 'failed', 'lost']);

interface Tracked extends NodeOutcome {
  lastHeardMs: number;
  finishedMs?: number;
}

export class DistributionTracker {
  readonly #startedMs: number;
  readonly #stallMs: number;
  readonly #sizeHint: number;
  readonly #nodes = new Map<string, Tracked>();

  /**
   * `expected`: the nodes that matched the selector when the command went out; `stallMs`: a
   * node silent this long (from the command, or its last report) counts as lost; `sizeHint`:
   * the artifact's size when known, for nodes that have not said yet.
   */
  constructor(options: {
    startedMs: number;
    stallMs: number;
    expected: readonly string[];
    sizeHint?: number;
  }) {
    this.#startedMs = options.startedMs;
    this.#stallMs = options.stallMs;
    this.#sizeHint = options.sizeHint ?? 0;
    for (const nodeId of options.expected) this.#add(nodeId, options.startedMs);
  }

  /** Applies one report; a node not expected (it matched later) joins the count. */
  report(progress: FleetProgress, nowMs: number): void {
    const node = this.#nodes.get(progress.nodeId) ?? this.#add(progress.nodeId, nowMs);
    if (node.state === 'complete' || node.state === 'failed') return;
    node.state = progress.state;
    node.lastHeardMs = nowMs;
    node.bytesDone = progress.bytesDone;
    node.bytesTotal = progress.bytesTotal;
    node.rateBytesPerS = progress.rateBytesPerS;
    node.peers = progress.peers;
    node.bytesFromOrigin = progress.bytesFromOrigin;
    node.bytesFromPeers = progress.bytesFromPeers;
    if (progress.path !== undefined) node.path = progress.path;
    if (progress.error !== undefined) node.error = progress.error;
    if (FINAL.has(node.state)) this.#finish(node, nowMs);
  }

  /** A node said it is shutting down: it will not finish. */
  leaving(nodeId: string, nowMs: number): void {
    const node = this.#nodes.get(nodeId);
    if (node === undefined || FINAL.has(node.state)) return;
    node.state = 'lost';
    node.error = 'the node shut down';
    this.#finish(node, nowMs);
  }

  /** Marks nodes silent for longer than the stall timeout as lost. */
  checkStalls(nowMs: number): void {
    for (const node of this.#nodes.values()) {
      if (FINAL.has(node.state) || nowMs - node.lastHeardMs < this.#stallMs) continue;
      node.state = 'lost';
      node.error = `no report for ${Math.round((nowMs - node.lastHeardMs) / 1000)} s`;
      this.#finish(node, nowMs);
    }
  }

  /** Every node reached a final state. */
  done(): boolean {
    for (const node of this.#nodes.values()) if (!FINAL.has(node.state)) return false;
    return true;
  }

  snapshot(): DistributionSnapshot {
    let bytesDone = 0;
    let bytesTotal = 0;
    let nodesDone = 0;
    let rate = 0;
    let slowest: DistributionSnapshot['slowest'];
    for (const node of this.#nodes.values()) {
      const total = node.bytesTotal || this.#sizeHint;
      bytesTotal += total;
      bytesDone += node.state === 'complete' ? total : node.bytesDone;
      if (FINAL.has(node.state)) {
        if (node.state === 'complete') nodesDone++;
        continue;
      }
      rate += node.rateBytesPerS;
      const fraction = total > 0 ? node.bytesDone / total : 0;
      if (slowest === undefined || fraction < slowest.fraction) {
        slowest = { nodeId: node.nodeId, fraction };
      }
    }
    return {
      bytesDone,
      bytesTotal,
      nodesDone,
      nodesTotal: this.#nodes.size,
      rateBytesPerS: rate,
      ...(slowest === undefined ? {} : { slowest }),
    };
  }

  summary(nowMs: number): DistributionSummary {
    const nodes = [...this.#nodes.values()].sort((a, b) =>
      a.nodeId.localeCompare(b.nodeId, 'en', { numeric: true }),
    );
    let bytesDelivered = 0;
    let bytesFromOrigin = 0;
    let bytesFromPeers = 0;
    let lastFinishMs = this.#startedMs;
    const count = { complete: 0, failed: 0, lost: 0 };
    for (const node of nodes) {
      bytesFromOrigin += node.bytesFromOrigin;
      bytesFromPeers += node.bytesFromPeers;
      if (node.state === 'complete') {
        count.complete++;
        bytesDelivered += node.bytesTotal;
        lastFinishMs = Math.max(lastFinishMs, node.finishedMs ?? nowMs);
      } else if (node.state === 'failed') count.failed++;
      else if (node.state === 'lost') count.lost++;
    }
    const endMs = this.done() ? lastFinishMs : nowMs;
    const wallSeconds = Math.max(0.001, (endMs - this.#startedMs) / 1000);
    const moved = bytesFromOrigin + bytesFromPeers;
    return {
      nodes: nodes.map(({ lastHeardMs: _heard, finishedMs: _finished, ...outcome }) => outcome),
      ...count,
      wallSeconds,
      bytesDelivered,
      throughputBytesPerS: bytesDelivered / wallSeconds,
      bytesFromOrigin,
      bytesFromPeers,
      originOffloadPercent: moved > 0 ? (100 * bytesFromPeers) / moved : 0,
    };
  }

  #add(nodeId: string, nowMs: number): Tracked {
    const node: Tracked = {
      nodeId,
      state: 'pending',
      bytesDone: 0,
      bytesTotal: 0,
      rateBytesPerS: 0,
      peers: 0,
      bytesFromOrigin: 0,
      bytesFromPeers: 0,
      lastHeardMs: nowMs,
    };
    this.#nodes.set(nodeId, node);
    return node;
  }

  #finish(node: Tracked, nowMs: number): void {
    node.finishedMs = nowMs;
    node.seconds = (nowMs - this.#startedMs) / 1000;
  }
}
