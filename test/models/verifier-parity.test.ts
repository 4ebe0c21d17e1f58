import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PYTHON, torchSuite } from '../core/support/env.js';
import { polishCandidates } from '../../pipeline/postprocess/polish-candidates.js';
import { sessionOptions } from '../../pipeline/registry.js';
import { patchTensorData, runVerifier } from '../../pipeline/verify.js';
import type { Verifier } from '../../pipeline/model-manifest.schema.js';

// The verifier was trained on candidates and patches made in Python; in service they are made in TypeScript. A
// candidate rule or patch that drifts between the two would feed the network inputs it never saw.
const FIXTURE = join(import.meta.dirname, '../../models/training/verifier_fixture.py');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

interface Fixture {
  width: number;
  height: number;
  rule: Verifier['candidates'];
  patchPx: number;
  contextFactor: number;
  wideFactor?: number;
  mean: [number, number, number];
  std: [number, number, number];
  candidates: Array<{ value: number; x: number; y: number; source: number }>;
}

const f32 = (path: string): Float32Array => {
  const buf = readFileSync(path);
  const out = new Float32Array(buf.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
};

describe('polish verifier: Python training contract = TypeScript service', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  // Six channels (1.2.0-1.4.0), and nine with the wide view (1.5.0 on).
  it.skipIf(skipTorch).each([{ wide: null }, { wide: 16 }])('same candidates, same patches, same probabilities (wide view $wide)', async ({ wide }) => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'loupe-verifier-'));
    dirs.push(dir);
    execFileSync(PYTHON, [FIXTURE, '--out', dir, ...(wide ? ['--wide-factor', String(wide)] : [])], { stdio: 'pipe', timeout: 120_000 });
    const fx = JSON.parse(readFileSync(join(dir, 'fixture.json'), 'utf8')) as Fixture;
    const { width, height } = fx;
    const all = f32(join(dir, 'planes.f32'));
    const planes = [0, 1, 2, 3].map((k) => all.subarray(k * width * height, (k + 1) * width * height));
    const onPiece = new Uint8Array(readFileSync(join(dir, 'on_piece.u8')));
    const image = { data: readFileSync(join(dir, 'image.u8')), width, height };

    const cands = polishCandidates(planes, width, height, onPiece, fx.rule);
    expect(cands.length).toBeGreaterThan(20);
    expect(cands.some((c) => c.source === -1)).toBe(true);
    expect(cands.map((c) => [c.x, c.y, c.source])).toEqual(fx.candidates.map((c) => [c.x, c.y, c.source]));

    expect(fx.wideFactor ?? null).toBe(wide);
    const spec = { patchPx: fx.patchPx, contextFactor: fx.contextFactor, ...(fx.wideFactor ? { wideFactor: fx.wideFactor } : {}), candidates: fx.rule, kinds: ['scratch', 'haze', 'tool_mark', 'orange_peel'], input: 'patches', output: 'kinds' } as Verifier;
    const norm = { scale: 255, mean: fx.mean, std: fx.std };
    const patches = patchTensorData(image, cands, spec, norm);
    const want = f32(join(dir, 'patches.f32'));
    expect(patches.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(patches[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-4);

    const session = await ort.InferenceSession.create(join(dir, 'verifier.onnx'), sessionOptions(2));
    try {
      const verified = await runVerifier(session, image, cands, spec, norm);
      const probs = f32(join(dir, 'probs.f32'));
      let diff = 0;
      for (const [n, v] of verified.entries()) for (let k = 0; k < 4; k++) diff = Math.max(diff, Math.abs(v.probs[k]! - probs[n * 4 + k]!));
      expect(diff).toBeLessThan(1e-4);
    } finally {
      await session.release();
    }
  }, 180_000);
});
