import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/**
 * Every setting of the service comes from one environment variable parsed here; nothing else reads `process.env`.
 * Each `.describe()` is the documentation (README's table is generated from it by `configDocs()`).
 */

const MiB = 1024 * 1024;

/** Defaults are relative to the project, so `npm run serve` behaves the same from any working directory. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

const int = (d: number, min = 0) => z.coerce.number().int().min(min).default(d);

/** `WORKER_WARMUP_RUNS` unset: also what `loupe eval` and the bench warm up with, so their times are a worker's. */
export const DEFAULT_WORKER_WARMUP_RUNS = 2;
const optionalInt = (min = 0) => z.coerce.number().int().min(min).optional();

const PHOTO_TYPES = ['jpeg', 'png', 'tiff', 'webp'] as const;
export const PhotoTypeSchema = z.enum(PHOTO_TYPES);
export type PhotoType = z.infer<typeof PhotoTypeSchema>;

const EnvSchema = z.object({
  LOUPE_DATA_DIR: z
    .string()
    .min(1)
    .default(path.join(PROJECT_ROOT, 'data'))
    .describe('Folder for everything the service writes by default: SQLite file, photos, overlay cache, demo Redis.'),
  DATABASE_URL: z
    .string()
    .min(1)
    .optional()
    .describe(
      'postgres://user@host:5432/db (PostgreSQL) or sqlite:PATH / a plain file path (SQLite, WAL mode). ' +
        'Default: sqlite file `loupe.db` in LOUPE_DATA_DIR.',
    ),
  PHOTO_STORE: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Where photos are kept, content-addressed by sha256: a directory path, or s3://bucket[/prefix] for any S3-compatible ' +
        'store (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the usual AWS chain). Default: LOUPE_DATA_DIR/photos.',
    ),
  S3_ENDPOINT: z.url().optional().describe('S3 endpoint for a non-AWS store (MinIO: http://minio:9000). Default: AWS.'),
  S3_REGION: z.string().min(1).default('us-east-1').describe('S3 region (MinIO ignores it, AWS needs the bucket\'s).'),
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false', 'auto'])
    .default('auto')
    .describe('Path-style bucket URLs (MinIO and most self-hosted stores need them). auto: on when S3_ENDPOINT is set.'),
  REDIS_URL: z.url().default('redis://127.0.0.1:6379').describe('Redis used by BullMQ (redis://[:pass@]host:port[/db]).'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]+$/)
    .default('loupe')
    .describe('Prefix of every BullMQ key in Redis, so several deployments (or test runs) can share one Redis.'),
  HOST: z.string().min(1).default('127.0.0.1').describe('Interface the API listens on (0.0.0.0 to accept remote stations).'),
  PORT: int(3000).pipe(z.number().max(65535)).describe('TCP port of the API (0 picks a free one).'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),

  MAX_PHOTO_BYTES: int(32 * MiB, 1).describe('Largest photo file accepted, in bytes; larger uploads get 413.'),
  MAX_PHOTOS_PER_INSPECTION: int(8, 1).describe('Most photos (views) in one inspection upload.'),
  MAX_FIELD_BYTES: int(64 * 1024, 1024).describe('Largest non-file multipart field (the metadata JSON), in bytes.'),
  MAX_PHOTO_PIXELS: int(60_000_000, 1).describe(
    'Largest width×height accepted, read from the image header before decoding, so a decompression bomb is refused.',
  ),
  ALLOWED_PHOTO_TYPES: z
    .string()
    .default(PHOTO_TYPES.join(','))
    .transform((s) => s.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean))
    .pipe(z.array(PhotoTypeSchema).min(1))
    .describe(`Comma-separated photo formats accepted, sniffed from magic bytes (any of ${PHOTO_TYPES.join(', ')}).`),
  ENQUEUE_TIMEOUT_MS: int(3000, 100).describe('How long an upload waits for Redis to accept its job before answering 503.'),

  WORKER_CONCURRENCY: int(1, 1).describe('Jobs one worker process runs at once.'),
  ORT_INTRA_OP_THREADS: optionalInt(1).describe(
    'onnxruntime threads per inference. Default: CPU cores ÷ WORKER_CONCURRENCY (at least 1), so one host is not oversubscribed.',
  ),
  ORT_INTER_OP_THREADS: int(1, 1).describe('onnxruntime inter-op threads per session.'),
  WORKER_WARMUP_RUNS: int(DEFAULT_WORKER_WARMUP_RUNS, 0).describe(
    'Runs of each model on its largest input when a worker loads it (at start and after a promotion), before it takes jobs: a fresh session runs its first inputs several times slower. Above 0, the worker also inspects the committed samples once at start (the code around the networks warms up too); 0 skips both.',
  ),
  JOB_ATTEMPTS: int(5, 1).describe('Attempts per inspection job before it is marked failed (retryable errors only).'),
  JOB_BACKOFF_MS: int(2000, 1).describe('First retry delay; doubles on each attempt (exponential backoff).'),
  JOB_LOCK_MS: int(30_000, 1000).describe(
    'BullMQ lock duration: a job whose worker stops renewing its lock for this long (crash) is handed to another worker.',
  ),
  JOB_STALLED_INTERVAL_MS: int(30_000, 500).describe('How often workers look for jobs whose lock expired (crashed workers).'),
  SWEEPER_INTERVAL_MS: int(30_000, 0).describe(
    'How often a worker compares accepted inspections with the queue and re-enqueues lost jobs (0 disables the sweeper).',
  ),
  SWEEPER_GRACE_MS: int(60_000, 0).describe(
    'An accepted inspection is only re-enqueued when it is older than this, so an upload still between commit and enqueue is left alone.',
  ),
  SHUTDOWN_TIMEOUT_MS: int(30_000, 0).describe('Longest a SIGTERM waits for running jobs / open requests before exiting.'),

  MODELS_DIR: z.string().min(1).default(path.join(PROJECT_ROOT, 'models')).describe('Folder of `<model-id>/<version>/{model.onnx,model.json}`.'),
  LOUPE_PROFILES: z
    .string()
    .min(1)
    .optional()
    .describe(
      'A product-profiles JSON file deep-merged over pipeline/profiles.default.json (change a tolerance, add a profile). Default: none.',
    ),
  OVERLAY_CACHE_DIR: z.string().min(1).optional().describe('Where rendered overlays are cached. Default: LOUPE_DATA_DIR/overlays.'),

  LOUPE_BOOTSTRAP_ADMIN_KEY: z
    .string()
    .min(32, 'at least 32 characters (e.g. `openssl rand -base64 32`)')
    .optional()
    .describe(
      'An admin API key the API installs at start-up (stored hashed, id `bootstrap`), for a first deployment, the demo and tests. ' +
        'Prefer `loupe keys create` and leave this unset in production.',
    ),
  SESSION_TTL_HOURS: int(12, 1).describe('Lifetime of a session cookie made by POST /v1/session (review and station pages).'),
  COOKIE_SECURE: z
    .enum(['true', 'false', 'auto'])
    .default('auto')
    .describe('Mark the session cookie Secure. auto: when the request came over HTTPS (x-forwarded-proto from a trusted proxy).'),
  TRUST_PROXY: z
    .enum(['true', 'false'])
    .default('false')
    .describe('Trust X-Forwarded-* headers (set true behind a TLS-terminating proxy).'),
  WEBHOOK_ATTEMPTS: int(10, 1).describe('Delivery attempts per webhook event before it is marked failed.'),
  WEBHOOK_BACKOFF_MS: int(10_000, 1).describe('First webhook retry delay; doubles each attempt (10 attempts from 10 s span about 85 min).'),
  WEBHOOK_TIMEOUT_MS: int(10_000, 100).describe('How long a webhook receiver has to answer one delivery attempt.'),
  TREND_CHECK_INTERVAL_MS: int(60_000, 0).describe(
    'Workers re-check the casting trend charts for new out-of-control signals after inspections complete, at most this often (0 disables; see docs/trends.md).',
  ),
});

export type PhotoStoreTarget =
  | { kind: 'dir' }
  | { kind: 's3'; bucket: string; prefix: string; endpoint: string | null; region: string; forcePathStyle: boolean };

export type DatabaseTarget =
  | { kind: 'sqlite'; file: string }
  | { kind: 'postgres'; url: string };

function databaseTarget(url: string): DatabaseTarget {
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  const file = url.replace(/^sqlite:(\/\/)?/, '').replace(/^file:(\/\/)?/, '');
  return { kind: 'sqlite', file: file === ':memory:' ? file : path.resolve(file) };
}

export const ConfigSchema = EnvSchema.transform((env, ctx) => {
  const dataDir = path.resolve(env.LOUPE_DATA_DIR);
  const photoStore = env.PHOTO_STORE ?? path.join(dataDir, 'photos');
  let photoTarget: PhotoStoreTarget = { kind: 'dir' };
  if (/^s3:\/\//i.test(photoStore)) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/i.exec(photoStore);
    if (!m) {
      ctx.addIssue({ code: 'custom', path: ['PHOTO_STORE'], message: `${photoStore}: expected s3://bucket or s3://bucket/prefix` });
      return z.NEVER;
    }
    const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
    photoTarget = {
      kind: 's3',
      bucket: m[1]!,
      prefix: prefix ? `${prefix}/` : '',
      endpoint: env.S3_ENDPOINT ?? null,
      region: env.S3_REGION,
      forcePathStyle: env.S3_FORCE_PATH_STYLE === 'auto' ? Boolean(env.S3_ENDPOINT) : env.S3_FORCE_PATH_STYLE === 'true',
    };
  } else if (/^[a-z0-9]+:\/\//i.test(photoStore) && !photoStore.startsWith('file://')) {
    // Refuse rather than silently writing to a folder called "gs:".
    ctx.addIssue({ code: 'custom', path: ['PHOTO_STORE'], message: `${photoStore}: a directory or s3://bucket/prefix` });
    return z.NEVER;
  }
  return {
    dataDir,
    database: databaseTarget(env.DATABASE_URL ?? path.join(dataDir, 'loupe.db')),
    photoStore: photoTarget,
    /** The photo directory, or for S3 the local folder uploads are staged in before they are sent. */
    photoStoreDir: path.resolve(photoTarget.kind === 's3' ? path.join(dataDir, 'photo-staging') : photoStore.replace(/^file:\/\//, '')),
    overlayCacheDir: path.resolve(env.OVERLAY_CACHE_DIR ?? path.join(dataDir, 'overlays')),
    redisUrl: env.REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    upload: {
      maxPhotoBytes: env.MAX_PHOTO_BYTES,
      maxPhotos: env.MAX_PHOTOS_PER_INSPECTION,
      maxFieldBytes: env.MAX_FIELD_BYTES,
      maxPixels: env.MAX_PHOTO_PIXELS,
      allowedTypes: env.ALLOWED_PHOTO_TYPES,
      enqueueTimeoutMs: env.ENQUEUE_TIMEOUT_MS,
    },
    worker: {
      concurrency: env.WORKER_CONCURRENCY,
      intraOpThreads:
        env.ORT_INTRA_OP_THREADS ?? Math.max(1, Math.floor(os.availableParallelism() / env.WORKER_CONCURRENCY)),
      interOpThreads: env.ORT_INTER_OP_THREADS,
      warmUpRuns: env.WORKER_WARMUP_RUNS,
      lockMs: env.JOB_LOCK_MS,
      stalledIntervalMs: env.JOB_STALLED_INTERVAL_MS,
    },
    jobs: { attempts: env.JOB_ATTEMPTS, backoffMs: env.JOB_BACKOFF_MS },
    sweeper: { intervalMs: env.SWEEPER_INTERVAL_MS, graceMs: env.SWEEPER_GRACE_MS },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    modelsDir: path.resolve(env.MODELS_DIR),
    profilesFile: env.LOUPE_PROFILES ? path.resolve(env.LOUPE_PROFILES) : null,
    auth: {
      bootstrapAdminKey: env.LOUPE_BOOTSTRAP_ADMIN_KEY ?? null,
      sessionTtlMs: env.SESSION_TTL_HOURS * 3600_000,
      cookieSecure: env.COOKIE_SECURE,
    },
    trustProxy: env.TRUST_PROXY === 'true',
    webhooks: { attempts: env.WEBHOOK_ATTEMPTS, backoffMs: env.WEBHOOK_BACKOFF_MS, timeoutMs: env.WEBHOOK_TIMEOUT_MS },
    trends: { checkIntervalMs: env.TREND_CHECK_INTERVAL_MS },
  };
});
export type Config = z.infer<typeof ConfigSchema>;

/** The configuration for printing (`loupe serve --print-config`): secrets replaced. */
export function redactedConfig(config: Config): unknown {
  return { ...config, auth: { ...config.auth, bootstrapAdminKey: config.auth.bootstrapAdminKey ? '[redacted]' : null } };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment once; a bad variable stops start-up with every problem named. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** `[name, description, default]` for every variable, for README and `loupe serve --help`. */
export function configDocs(): Array<{ name: string; description: string; default: string }> {
  return Object.entries(EnvSchema.shape).map(([name, schema]) => {
    const s = schema as z.ZodType;
    let def = '';
    try {
      const v = s.parse(undefined);
      def = v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v);
    } catch {
      def = '';
    }
    return { name, description: s.description ?? '', default: def };
  });
}
