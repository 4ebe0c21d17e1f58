import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { PYTHON } from '../../core/support/env.js';

const LOUPE = join(import.meta.dirname, '../../../cli/bin/loupe.js');

/** Two small generated sets for the trainers' resume tests: 6 training photos (seed 5) and `valCount` (seed 6), 384 px. */
export function tinySets(dir: string, valCount: number): { train: string; val: string } {
  const train = join(dir, 'train');
  const val = join(dir, 'val');
  execFileSync(process.execPath, [LOUPE, 'synth', '--out', train, '--count', '6', '--seed', '5', '--size', '384'], { stdio: 'pipe', timeout: 90_000 });
  execFileSync(process.execPath, [LOUPE, 'synth', '--out', val, '--count', String(valCount), '--seed', '6', '--size', '384'], { stdio: 'pipe', timeout: 90_000 });
  return { train, val };
}

/** A trainer script with the arguments every run of a test shares; each call adds its output, run folder and extras. */
export function trainer(script: string, shared: string[]): (out: string, runDir: string, extra: string[]) => SpawnSyncReturns<string> {
  return (out, runDir, extra) => spawnSync(PYTHON, [script, ...shared, '--out', out, '--run-dir', runDir, ...extra], { encoding: 'utf8', timeout: 300_000 });
}

/**
 * One run whole into `dir/a/<version>`, and one stopped by --max-minutes at its first checkpoint (step 5), refused a
 * second start without --resume, then resumed, into `dir/b/<version>`: both folders, for the caller to compare.
 */
export function wholeAndResumed(run: ReturnType<typeof trainer>, dir: string, version = 'loupe-seg/9.0.0'): { a: string; b: string } {
  const a = join(dir, 'a', version);
  const b = join(dir, 'b', version);
  const whole = run(a, join(dir, 'run-a'), []);
  expect(whole.status, whole.stderr).toBe(0);
  const stopped = run(b, join(dir, 'run-b'), ['--max-minutes', '0']);
  expect(stopped.status, stopped.stderr).toBe(2);
  expect(stopped.stdout).toContain('stopped at step 5');
  const again = run(b, join(dir, 'run-b'), []);
  expect(again.status).not.toBe(0);
  expect(again.stderr).toContain('--resume');
  const resumed = run(b, join(dir, 'run-b'), ['--resume']);
  expect(resumed.status, resumed.stderr).toBe(0);
  expect(resumed.stdout).toContain('resumed from');
  return { a, b };
}
