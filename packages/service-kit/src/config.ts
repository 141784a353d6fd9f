import { z } from 'zod';
import { ServiceKitError, ServiceKitErrorCode } from './errors.ts';

/** A schema with one entry per environment variable name, built from the `env*` helpers. */
export type EnvSchema = z.ZodObject<Record<string, z.ZodType>>;

export interface LoadConfigOptions {
  /**
   * Variables starting with this prefix that the schema does not declare are reported as
   * unknown, so a misspelt `SHOAL_TRACKER_HTTP_PROT` fails instead of being ignored.
   */
  rejectUnknownWithPrefix?: string;
}

// Values of these variables are never echoed into error messages or logs.
const SECRET_NAME = /PASS|TOKEN|SECRET|CRED|KEY/i;

/** `scheme://user:password@host` with the user and password replaced, so no error shows them. */
function withoutUserinfo(value: string): string {
  return value.replace(/:\/\/[^\s,]*@/g, '://***@');
}

function shorten(value: string): string {
  return value.length > 60 ? `${value.slice(0, 60)}…` : value;
}

/**
 * Parses `env` with `schema`. An empty string counts as unset, so defaults apply. On failure it
 * throws one `ServiceKitError(InvalidConfig)` whose message lists every bad or missing variable.
 */
export function loadConfig<S extends EnvSchema>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
  options: LoadConfigOptions = {},
): z.output<S> {
  const input: Record<string, string | undefined> = {};
  for (const name of Object.keys(schema.shape)) {
    const value = env[name];
    input[name] = value === '' ? undefined : value;
  }
  const problems: string[] = [];
  const prefix = options.rejectUnknownWithPrefix;
  if (prefix !== undefined) {
    for (const name of Object.keys(env).sort()) {
      if (name.startsWith(prefix) && !(name in schema.shape)) {
        problems.push(
          `${name}: not a known variable (known: ${Object.keys(schema.shape).join(', ')})`,
        );
      }
    }
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '(config)');
      const value = input[name];
      const shown =
        value === undefined
          ? 'unset'
          : SECRET_NAME.test(name)
            ? 'value hidden'
            : `got ${JSON.stringify(shorten(withoutUserinfo(value)))}`;
      problems.push(`${name}: ${issue.message} (${shown})`);
    }
  }
  if (problems.length > 0) {
    throw new ServiceKitError(
      ServiceKitErrorCode.InvalidConfig,
      `invalid configuration, ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
    );
  }
  return parsed.data as z.output<S>;
}

/** A string variable; required unless a default is given. */
export function envString(options: { default?: string; pattern?: RegExp; describe?: string } = {}) {
  let schema = z.string({ error: 'required' }).min(1);
  if (options.pattern !== undefined) {
    schema = schema.regex(options.pattern, options.describe ?? `must match ${options.pattern}`);
  }
  return options.default === undefined ? schema : schema.default(options.default);
}

/** An integer variable within `[min, max]`. */
export function envInt(options: { min: number; max: number; default?: number }) {
  const schema = z
    .string({ error: 'required' })
    .trim()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(options.min, `must be at least ${options.min}`)
        .max(options.max, `must be at most ${options.max}`),
    );
  return options.default === undefined ? schema : schema.default(options.default);
}

/** A decimal number variable within `[min, max]`. */
export function envNumber(options: { min: number; max: number; default?: number }) {
  const schema = z
    .string({ error: 'required' })
    .trim()
    .regex(/^-?(\d+\.?\d*|\.\d+)$/, 'must be a number')
    .transform(Number)
    .pipe(
      z
        .number()
        .min(options.min, `must be at least ${options.min}`)
        .max(options.max, `must be at most ${options.max}`),
    );
  return options.default === undefined ? schema : schema.default(options.default);
}

/** A TCP port variable (1-65535; 0 only with `allowZero`, meaning "any free port"). */
export function envPort(options: { default?: number; allowZero?: boolean } = {}) {
  return envInt({ min: options.allowZero ? 0 : 1, max: 65535, ...options });
}

/** `true`/`false`/`1`/`0`/`yes`/`no`, case-insensitive. */
export function envBool(options: { default?: boolean } = {}) {
  const schema = z
    .string({ error: 'required' })
    .trim()
    .toLowerCase()
    .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }))
    .transform((value) => value === 'true' || value === '1' || value === 'yes');
  return options.default === undefined ? schema : schema.default(options.default);
}

/** One of a fixed set of names. */
export function envEnum<const T extends readonly [string, ...string[]]>(
  values: T,
  options: { default?: T[number] } = {},
) {
  const schema = z.enum(values, { error: `must be one of ${values.join(', ')}` });
  return options.default === undefined ? schema : schema.default(options.default as never);
}

/** A comma-separated list of `nats://` (or `tls://`, `ws://`) URLs. */
export function envNatsUrls(options: { default?: string } = {}) {
  const schema = z
    .string({ error: 'required' })
    .trim()
    .transform((value) => value.split(',').map((part) => part.trim()))
    .pipe(
      z
        .array(
          z
            .string()
            // nats.js ignores user:password@ in a URL: refuse it rather than connect without.
            .refine(
              (url) => !url.includes('@'),
              'must not hold credentials (the NATS client ignores them): use SHOAL_NATS_USER + SHOAL_NATS_PASSWORD_FILE, SHOAL_NATS_TOKEN_FILE, SHOAL_NATS_NKEY_SEED_FILE or SHOAL_NATS_CREDS_FILE',
            )
            .regex(
              /^(nats|tls|ws|wss):\/\/[^\s/]+$/,
              'must be comma-separated nats://host:port URLs',
            ),
        )
        .min(1),
    );
  return options.default === undefined ? schema : schema.default([options.default]);
}
