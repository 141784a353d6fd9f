import { z } from 'zod';
import { decodeMessage, encodeMessage } from './codec.ts';
import { BusError, BusErrorCode } from './errors.ts';

/**
 * The part of a NATS connection the request helpers use. A `NatsConnection` from
 * `@nats-io/transport-node` fits it; the bus depends on no NATS client version.
 */
export interface NatsRequester {
  request(subject: string, payload: Uint8Array, options: { timeout: number }): Promise<BusReply>;
}
export interface BusReply {
  data: Uint8Array;
  headers?: { get(key: string): string } | undefined;
}

/** Headers the NATS services framework puts on an error reply (`msg.respondError`). */
export const SERVICE_ERROR_HEADER = 'Nats-Service-Error';
export const SERVICE_ERROR_CODE_HEADER = 'Nats-Service-Error-Code';

/** Body of every error reply: a stable machine code and a human sentence. */
export const ErrorReply = z.object({
  error: z.object({ code: z.string().max(64), message: z.string().max(2000) }),
});
export type ErrorReply = z.infer<typeof ErrorReply>;

/** Largest error reply body a client reads. */
export const MAX_ERROR_REPLY_BYTES = 4096;

export interface RequestOptions {
  /** Reply deadline; default 2000 ms. */
  timeoutMs?: number;
}

/**
 * Sends `request` (validated against `requestSchema`) to `subject` and returns the reply
 * validated against `replySchema`. Error replies become `BusError(RemoteError)`.
 */
export async function requestJson<Req extends z.ZodType, Rep extends z.ZodType>(
  nc: NatsRequester,
  subject: string,
  schemas: { request: Req; reply: Rep; maxRequestBytes: number; maxReplyBytes: number },
  request: z.input<Req>,
  options: RequestOptions = {},
): Promise<z.output<Rep>> {
  const payload = encodeMessage(schemas.request, request, schemas.maxRequestBytes);
  let reply: BusReply;
  try {
    reply = await nc.request(subject, payload, { timeout: options.timeoutMs ?? 2000 });
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new BusError(BusErrorCode.RequestFailed, `request on ${subject} failed: ${reason}`, {
      cause,
    });
  }
  const statusHeader = reply.headers?.get(SERVICE_ERROR_CODE_HEADER) ?? '';
  if (statusHeader !== '') {
    throw remoteError(subject, reply, Number.parseInt(statusHeader, 10));
  }
  return decodeMessage(schemas.reply, reply.data, schemas.maxReplyBytes);
}

function remoteError(subject: string, reply: BusReply, status: number): BusError {
  const description = reply.headers?.get(SERVICE_ERROR_HEADER) ?? '';
  try {
    const body = decodeMessage(ErrorReply, reply.data, MAX_ERROR_REPLY_BYTES);
    return new BusError(BusErrorCode.RemoteError, `${subject}: ${body.error.message}`, {
      status,
      remoteCode: body.error.code,
    });
  } catch {
    return new BusError(BusErrorCode.RemoteError, `${subject}: ${description || 'error reply'}`, {
      status,
    });
  }
}
