import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Latency buckets in seconds suited to request/reply work that should finish in milliseconds. */
export const FAST_LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1,
] as const;

/**
 * A registry of its own (never prom-client's global one, so tests can run several in one
 * process) with the process metrics (CPU, memory, event-loop lag) under `prefix`.
 */
export function createMetricsRegistry(options: {
  prefix: string;
  defaultLabels?: Record<string, string>;
  processMetrics?: boolean;
}): Registry {
  const registry = new Registry();
  if (options.defaultLabels !== undefined) registry.setDefaultLabels(options.defaultLabels);
  if (options.processMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: options.prefix });
  }
  return registry;
}

export function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** A gauge; `collect`, when given, sets its value each time the registry is scraped. */
export function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  collect?: (gauge: Gauge<L>) => void,
): Gauge<L> {
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    ...(collect === undefined
      ? {}
      : {
          collect(this: Gauge<L>) {
            collect(this);
          },
        }),
  });
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: readonly number[] = FAST_LATENCY_BUCKETS,
): Histogram<L> {
  return new Histogram({ name, help, labelNames, buckets: [...buckets], registers: [registry] });
}
