import type { z } from 'zod';
import { BusError, BusErrorCode } from './errors.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Validates `value` against `schema` and encodes it as UTF-8 JSON. */
export function encodeMessage<S extends z.ZodType>(
  schema: S,
  value: z.input<S>,
  maxBytes: number,
): Uint8Array {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new BusError(BusErrorCode.InvalidMessage, describeIssues(parsed.error), {
      cause: parsed.error,
    });
  }
  const bytes = encoder.encode(JSON.stringify(parsed.data));
  if (bytes.length > maxBytes) {
    throw new BusError(
      BusErrorCode.MessageTooLarge,
      `message is ${bytes.length} bytes, over the ${maxBytes}-byte limit`,
    );
  }
  return bytes;
}

/**
 * Decodes UTF-8 JSON `bytes` and validates them against `schema`. Throws `BusError` with
 * `MessageTooLarge` or `InvalidMessage` and a message naming every bad field.
 */
export function decodeMessage<S extends z.ZodType>(
  schema: S,
  bytes: Uint8Array,
  maxBytes: number,
): z.output<S> {
  if (bytes.length > maxBytes) {
    throw new BusError(
      BusErrorCode.MessageTooLarge,
      `message is ${bytes.length} bytes, over the ${maxBytes}-byte limit`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new BusError(BusErrorCode.InvalidMessage, 'message is not UTF-8 JSON', { cause });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new BusError(BusErrorCode.InvalidMessage, describeIssues(parsed.error), {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** One line naming every failing field: `port: Too big...; infoHash: must be ...`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'message'}: ${issue.message}`)
    .join('; ');
}
