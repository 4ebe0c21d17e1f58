import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { freePort, redisAnswers as redisAnswersAt } from '../../../core/local-redis.js';

/**
 * Real Redis and PostgreSQL for the suites. Outside CI a missing server skips its suites with a message; in CI
 * (`CI=true`) the suites run anyway and fail, so a broken CI machine can never pass by skipping.
 */
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Whether the tests' Redis answers; the probe is the demo's own (core/local-redis.ts), so both agree on "up". */
export const redisAnswers = (url = TEST_REDIS_URL): Promise<boolean> => redisAnswersAt(url);

export async function postgresAnswers(url = TEST_PG_URL): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/** `true` when the suite should be skipped (and says why); never skips in CI. */
export function skipUnless(available: boolean, what: string): boolean {
  if (available || IN_CI) return false;
  console.warn(`[skip] ${what} is not reachable; start it to run these tests (CI fails instead of skipping)`);
  return true;
}

/** Debian's python3-torch is visible only to the system interpreter, not to a pyenv `python3` on PATH. */
export const PYTHON = '/usr/bin/python3';

/** Whether PYTHON imports torch and onnx (training, export and parity suites; `apt-get install python3-torch python3-onnx`). */
export const torchAvailable = (): boolean => spawnSync(PYTHON, ['-c', 'import torch, onnx'], { stdio: 'ignore' }).status === 0;

/** For suites that need PYTHON with torch: whether it has it, whether to skip (never in CI), and the message a test
 * that runs without it fails with. */
export function torchSuite(): { hasTorch: boolean; skip: boolean; missing: string } {
  const hasTorch = torchAvailable();
  return {
    hasTorch,
    skip: skipUnless(hasTorch, `${PYTHON} with torch and onnx (apt-get install python3-torch python3-onnx)`),
    missing: `${PYTHON} cannot import torch and onnx; CI must have python3-torch and python3-onnx`,
  };
}

/** A free local port, e.g. for a Redis URL that must not answer (core/local-redis.ts's helper). */
export { freePort };

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
