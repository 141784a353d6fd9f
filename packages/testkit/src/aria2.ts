/**
 * The aria2c options every benchmark and interop swarm starts from: no config file, no DHT,
 * local peer discovery, peer exchange or required encryption (peers come from the tracker
 * only), no preallocation, quiet. Callers add ports, seeding and completion options.
 */
export function aria2SwarmOptions(dir: string): string[] {
  return [
    '--no-conf',
    `--dir=${dir}`,
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    '--bt-require-crypto=false',
    '--summary-interval=0',
    '--console-log-level=warn',
    '--file-allocation=none',
  ];
}
