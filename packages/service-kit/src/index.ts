export {
  type EnvSchema,
  envBool,
  envEnum,
  envInt,
  envNatsUrls,
  envNumber,
  envPort,
  envString,
  type LoadConfigOptions,
  loadConfig,
} from './config.ts';
export { describeStartupFailure, ServiceKitError, ServiceKitErrorCode } from './errors.ts';
export {
  type HttpServerOptions,
  type HttpService,
  type RequestTarget,
  type RouteHandler,
  splitTarget,
  startHttpServer,
} from './http.ts';
export { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './logger.ts';
export {
  Counter,
  counter,
  createMetricsRegistry,
  FAST_LATENCY_BUCKETS,
  Gauge,
  gauge,
  Histogram,
  histogram,
  Registry,
} from './metrics.ts';
export {
  connectNats,
  loadNatsAuth,
  NATS_AUTH_ENV,
  type NatsAuth,
  type NatsAuthEnv,
  NatsAuthMethod,
} from './nats-auth.ts';
export { Readiness } from './readiness.ts';
export { installShutdown, type Shutdown } from './shutdown.ts';
