// How every shoal process authenticates to NATS: at most one method, chosen by environment
// variables, with the secret read from a file (a mounted Kubernetes Secret), never from the
// environment itself, never logged.
import { readFileSync } from 'node:fs';
import {
  type Authenticator,
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import { z } from 'zod';
import { ServiceKitError, ServiceKitErrorCode } from './errors.ts';

/**
 * The authentication variables, to spread into a service's env schema
 * (`z.object({ ...NATS_AUTH_ENV, ... })`); `loadNatsAuth` turns their values into an
 * authenticator.
 */
export const NATS_AUTH_ENV = {
  /** A NATS `.creds` file: a user JWT and its NKey seed (decentralized JWT auth). */
  SHOAL_NATS_CREDS_FILE: z.string().min(1).optional(),
  /** A file holding a user NKey seed (`SU...`), for servers that list the user's public NKey. */
  SHOAL_NATS_NKEY_SEED_FILE: z.string().min(1).optional(),
  /** A file holding an authorization token. */
  SHOAL_NATS_TOKEN_FILE: z.string().min(1).optional(),
  /** A user name; its password is read from `SHOAL_NATS_PASSWORD_FILE`. */
  SHOAL_NATS_USER: z.string().min(1).optional(),
  SHOAL_NATS_PASSWORD_FILE: z.string().min(1).optional(),
};

export type NatsAuthEnv = {
  [Name in keyof typeof NATS_AUTH_ENV]?: string | undefined;
};

export const NatsAuthMethod = {
  None: 'none',
  Creds: 'creds',
  NKey: 'nkey',
  Token: 'token',
  UserPassword: 'user-password',
} as const;
export type NatsAuthMethod = (typeof NatsAuthMethod)[keyof typeof NatsAuthMethod];

export interface NatsAuth {
  readonly method: NatsAuthMethod;
  /** Which method from which variables, for messages (never the secret). */
  readonly description: string;
  /** Pass as `connect({ authenticator })`; undefined when no method is configured. */
  readonly authenticator: Authenticator | undefined;
}

/** A secret file larger than this is not a NATS credential (a .creds file is about 1 KiB). */
const MAX_SECRET_BYTES = 64 * 1024;
// A user NKey seed: "SU" and 56 more base32 characters.
const USER_SEED = /^SU[A-Z2-7]{56}$/;

function invalid(problems: string[]): ServiceKitError {
  return new ServiceKitError(
    ServiceKitErrorCode.InvalidConfig,
    `invalid configuration, ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
  );
}

/**
 * Reads a secret file named by `variable`; its content never appears in an error. A trailing
 * newline (as `kubectl create secret --from-file` keeps it) is dropped.
 */
function readSecret(variable: string, path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory, not a file'
            : (code ?? 'unreadable');
    throw invalid([`${variable}: cannot read ${path}: ${reason}`]);
  }
  if (bytes.length > MAX_SECRET_BYTES) {
    throw invalid([`${variable}: ${path} is larger than 64 KiB, not a NATS secret`]);
  }
  const text = bytes.toString('utf8').replace(/[\r\n]+$/, '');
  if (text.trim() === '') throw invalid([`${variable}: ${path} is empty`]);
  return text;
}

/**
 * Checks that at most one method is configured and reads its secret file now, so a missing,
 * unreadable, empty or malformed secret stops the process at start-up with the variable named.
 * Throws `ServiceKitError(InvalidConfig)`.
 */
export function loadNatsAuth(env: NatsAuthEnv): NatsAuth {
  const user = env.SHOAL_NATS_USER || undefined;
  const passwordFile = env.SHOAL_NATS_PASSWORD_FILE || undefined;
  const methods: [NatsAuthMethod, string][] = [];
  if (env.SHOAL_NATS_CREDS_FILE) methods.push([NatsAuthMethod.Creds, 'SHOAL_NATS_CREDS_FILE']);
  if (env.SHOAL_NATS_NKEY_SEED_FILE) {
    methods.push([NatsAuthMethod.NKey, 'SHOAL_NATS_NKEY_SEED_FILE']);
  }
  if (env.SHOAL_NATS_TOKEN_FILE) methods.push([NatsAuthMethod.Token, 'SHOAL_NATS_TOKEN_FILE']);
  if (user !== undefined || passwordFile !== undefined) {
    methods.push([NatsAuthMethod.UserPassword, 'SHOAL_NATS_USER + SHOAL_NATS_PASSWORD_FILE']);
  }
  if (methods.length > 1) {
    throw invalid([
      `${methods.map(([, names]) => names).join(', ')}: set at most one NATS authentication method (creds file, NKey seed file, token file, or user and password file)`,
    ]);
  }
  const method = methods[0]?.[0] ?? NatsAuthMethod.None;
  switch (method) {
    case NatsAuthMethod.None:
      return {
        method,
        description: 'no authentication: none of the SHOAL_NATS_* credential variables is set',
        authenticator: undefined,
      };
    case NatsAuthMethod.Creds: {
      const variable = 'SHOAL_NATS_CREDS_FILE';
      const path = env.SHOAL_NATS_CREDS_FILE as string;
      // nats.js wants every block, the last one included, to end with "\n".
      const creds = `${readSecret(variable, path).replace(/\r\n/g, '\n')}\n`;
      const authenticator = credsAuthenticator(new TextEncoder().encode(creds));
      try {
        // Parses the JWT and the seed and signs: what every CONNECT will do.
        authenticator('start-up check');
      } catch {
        throw invalid([
          `${variable}: ${path} is not a NATS .creds file (a NATS USER JWT block, then a USER NKEY SEED block)`,
        ]);
      }
      return { method, description: `JWT and NKey seed from ${variable}`, authenticator };
    }
    case NatsAuthMethod.NKey: {
      const variable = 'SHOAL_NATS_NKEY_SEED_FILE';
      const path = env.SHOAL_NATS_NKEY_SEED_FILE as string;
      const seed = readSecret(variable, path).trim();
      const authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
      try {
        if (!USER_SEED.test(seed)) throw new Error('not a user seed');
        // Decodes the seed (its checksum included) and signs, as every CONNECT will.
        authenticator('start-up check');
      } catch {
        throw invalid([
          `${variable}: ${path} does not hold a user NKey seed (58 characters starting with SU)`,
        ]);
      }
      return { method, description: `NKey seed from ${variable}`, authenticator };
    }
    case NatsAuthMethod.Token:
      return {
        method,
        description: 'token from SHOAL_NATS_TOKEN_FILE',
        authenticator: tokenAuthenticator(
          readSecret('SHOAL_NATS_TOKEN_FILE', env.SHOAL_NATS_TOKEN_FILE as string),
        ),
      };
    case NatsAuthMethod.UserPassword: {
      if (user === undefined) {
        throw invalid(['SHOAL_NATS_USER: required with SHOAL_NATS_PASSWORD_FILE']);
      }
      if (passwordFile === undefined) {
        throw invalid(['SHOAL_NATS_PASSWORD_FILE: required with SHOAL_NATS_USER']);
      }
      const password = readSecret('SHOAL_NATS_PASSWORD_FILE', passwordFile);
      return {
        method,
        description: 'user and password from SHOAL_NATS_USER + SHOAL_NATS_PASSWORD_FILE',
        authenticator: usernamePasswordAuthenticator(user, password),
      };
    }
  }
}

// What nats.js throws when the server refuses a CONNECT (after its second refusal in a row it
// stops retrying, even with `waitOnFirstConnect` and unlimited reconnects).
const AUTH_ERRORS = new Set(['AuthorizationError', 'UserAuthenticationExpiredError']);

/**
 * Connects with `options` and the configured authenticator: every shoal process connects to
 * NATS through here. A refusal of the credentials becomes a
 * `ServiceKitError(NatsAuthRefused)` that names the method and its variables; other failures
 * pass through unchanged.
 */
export async function connectNats(
  auth: NatsAuth,
  options: Omit<NodeConnectionOptions, 'authenticator' | 'user' | 'pass' | 'token'>,
): Promise<NatsConnection> {
  try {
    return await connect({ ...options, authenticator: auth.authenticator });
  } catch (error) {
    if (error instanceof Error && AUTH_ERRORS.has(error.name)) {
      throw new ServiceKitError(
        ServiceKitErrorCode.NatsAuthRefused,
        `NATS refused the credentials (${auth.description}): ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
}
