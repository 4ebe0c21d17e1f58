import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PYTHON, torchSuite } from '../core/support/env.js';

const FIXTURE = join(import.meta.dirname, '../../models/training/fixture.py');
const TOLERANCE = 1e-4;

const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

interface FixtureFile {
  file: string;
  shape: number[];
}
interface FixtureMeta {
  input: FixtureFile;
  outputs: Record<'seg' | 'stones' | 'evidence', FixtureFile>;
}

function readF32(path: string): Float32Array {
  const buf = readFileSync(path);
  // Copy into an aligned buffer: a Node Buffer may start at any byte offset of its pool.
  const out = new Float32Array(buf.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('loupe-seg ONNX export', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  // In CI a missing torch must fail loudly, never hide the parity check behind a skip.
  it.skipIf(skipTorch)(
    'runs in onnxruntime-node with the contract names and matches PyTorch within 1e-4',
    async () => {
      expect(hasTorch, TORCH_MISSING).toBe(true);
      const dir = mkdtempSync(join(tmpdir(), 'loupe-parity-'));
      dirs.push(dir);
      execFileSync(PYTHON, [FIXTURE, '--out', dir], { stdio: 'pipe', timeout: 120_000 });
      const meta = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8')) as FixtureMeta;

      const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), {
        intraOpNumThreads: 2,
        interOpNumThreads: 1,
      });
      expect(session.inputNames).toEqual(['image']);
      expect([...session.outputNames].sort()).toEqual(['evidence', 'seg', 'stones']);

      const input = new ort.Tensor('float32', readF32(join(dir, meta.input.file)), meta.input.shape);
      const result = await session.run({ image: input });
      for (const name of ['seg', 'stones', 'evidence'] as const) {
        const expected = meta.outputs[name];
        const got = result[name];
        expect(got.dims).toEqual(expected.shape);
        const diff = maxAbsDiff(got.data as Float32Array, readF32(join(dir, expected.file)));
        expect(diff, `${name} max abs diff`).toBeLessThanOrEqual(TOLERANCE);
      }
      await session.release();
    },
    120_000,
  );
});
