// Connections to a swarm's services: NATS, the piece-store's and the peer-nodes' gRPC APIs.
// Every failure becomes a one-line `CliError` saying which service and where.
import * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/transport-node';
import { BusError, BusErrorCode } from '@shoal/bus';
import {
  type PeerNodeClient,
  type PieceStoreClient,
  peerNodeProto,
  pieceStoreProto,
} from '@shoal/proto';
import {
  connectNats as connectWithAuth,
  loadNatsAuth,
  type NatsAuth,
  ServiceKitError,
  ServiceKitErrorCode,
} from '@shoal/service-kit';
import { CliError, CliErrorCode, oneLine } from './errors.ts';

/** Deadline of unary gRPC calls (Status, List, Stat). */
export const UNARY_DEADLINE_MS = 10_000;

export function pieceStoreClient(address: string): PieceStoreClient {
  return new pieceStoreProto.PieceStore(address, grpc.credentials.createInsecure());
}

export function peerNodeClient(socket: string): PeerNodeClient {
  return new peerNodeProto.PeerNode(`unix:${socket}`, grpc.credentials.createInsecure());
}

/** A deadline `ms` from now, for `CallOptions`. */
export function deadline(ms: number = UNARY_DEADLINE_MS): Date {
  return new Date(Date.now() + ms);
}

/**
 * Calls a unary method as a promise: `call((callback) => client.Status({}, options, callback))`.
 * Errors are mapped with `grpcError(what, ...)`.
 */
export function unary<T>(
  what: string,
  start: (callback: (error: grpc.ServiceError | null, value?: T) => void) => unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    start((error, value) => {
      if (error !== null) reject(grpcError(what, error));
      else if (value === undefined)
        reject(new CliError(CliErrorCode.Failed, `${what}: empty reply`));
      else resolve(value);
    });
  });
}

/** A gRPC status as a CliError: unreachable, not found, bad argument, or failed. */
export function grpcError(what: string, error: grpc.ServiceError | Error): CliError {
  const code = 'code' in error && typeof error.code === 'number' ? error.code : undefined;
  const details =
    'details' in error && typeof error.details === 'string' && error.details !== ''
      ? error.details
      : oneLine(error);
  switch (code) {
    case grpc.status.UNAVAILABLE:
      return new CliError(CliErrorCode.Unreachable, `cannot reach ${what}: ${details}`, {
        cause: error,
      });
    case grpc.status.DEADLINE_EXCEEDED:
      return new CliError(CliErrorCode.Unreachable, `${what} did not answer in time`, {
        cause: error,
      });
    case grpc.status.NOT_FOUND:
      return new CliError(CliErrorCode.NotFound, `${what}: ${details}`, { cause: error });
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.OUT_OF_RANGE:
      return new CliError(CliErrorCode.Usage, `${what}: ${details}`, { cause: error });
    case grpc.status.CANCELLED:
      return new CliError(CliErrorCode.Interrupted, `${what}: cancelled`, { cause: error });
    default:
      return new CliError(CliErrorCode.Failed, `${what}: ${details}`, { cause: error });
  }
}

/**
 * Connects to NATS, authenticating as the services do (SHOAL_NATS_CREDS_FILE,
 * SHOAL_NATS_NKEY_SEED_FILE, SHOAL_NATS_TOKEN_FILE or SHOAL_NATS_USER + SHOAL_NATS_PASSWORD_FILE
 * in `options.env`, default the process environment). With `reconnect`, the connection rides
 * out a server restart (for commands that follow a long transfer); the first connection fails
 * fast either way.
 */
export async function connectNats(
  url: string,
  options: { reconnect?: boolean; env?: Record<string, string | undefined> } = {},
): Promise<NatsConnection> {
  let auth: NatsAuth;
  try {
    auth = loadNatsAuth(options.env ?? process.env);
  } catch (error) {
    if (!(error instanceof ServiceKitError)) throw error;
    const problem = oneLine(error).replace(/^invalid configuration, \d+ problems?:;\s*/, '');
    throw new CliError(CliErrorCode.Usage, `NATS authentication: ${problem}`, { cause: error });
  }
  try {
    return await connectWithAuth(auth, {
      servers: url,
      name: 'shoal-cli',
      timeout: 3000,
      maxReconnectAttempts: options.reconnect ? -1 : 0,
      reconnectTimeWait: 250,
    });
  } catch (error) {
    if (error instanceof ServiceKitError && error.code === ServiceKitErrorCode.NatsAuthRefused) {
      throw new CliError(CliErrorCode.Usage, `NATS at ${url}: ${oneLine(error)}`, { cause: error });
    }
    throw new CliError(CliErrorCode.Unreachable, `cannot reach NATS at ${url}: ${oneLine(error)}`, {
      cause: error,
    });
  }
}

/** A bus request failure as a CliError: no answer is "unreachable", `not_found` is "not found". */
export function busError(what: string, error: unknown): CliError {
  if (error instanceof BusError) {
    if (error.code === BusErrorCode.RequestFailed) {
      return new CliError(CliErrorCode.Unreachable, `${what}: no answer (${error.message})`, {
        cause: error,
      });
    }
    if (error.code === BusErrorCode.RemoteError && error.remoteCode === 'not_found') {
      return new CliError(CliErrorCode.NotFound, `${what}: ${error.message}`, { cause: error });
    }
  }
  if (error instanceof CliError) return error;
  return new CliError(CliErrorCode.Failed, `${what}: ${oneLine(error)}`, { cause: error });
}
