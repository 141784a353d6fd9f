import { createLogger } from '@shoal/service-kit';
import { loadPieceStoreConfig } from './src/config.ts';
import { startPieceStore } from './src/service.ts';

const config = loadPieceStoreConfig(process.env);
const logger = createLogger({ service: 'probe', level: 'warn' });
const running = await startPieceStore(config, logger);
console.log(JSON.stringify({ grpcPort: running.grpcPort }));
const mb = (n: number) => Math.round(n / 1e6);
setInterval(() => {
  const m = process.memoryUsage();
  console.log(
    `rss ${mb(m.rss)} heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} ext ${mb(m.external)} ab ${mb(m.arrayBuffers)}`,
  );
}, 300).unref();
process.on('SIGTERM', () => void running.close().then(() => process.exit(0)));
