import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, releaseModel } from '../../pipeline/registry.js';
import { PYTHON, torchSuite } from '../core/support/env.js';

const TRAINING = join(import.meta.dirname, '../../models/training');
const BASE = join(import.meta.dirname, '../../models/loupe-seg/1.16.0');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

// A version cut back to the outputs its pipeline reads must give those outputs exactly as its base did, and load.
describe('a version with unread outputs cut (prune_outputs.py)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loupe-prune-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const prune = (out: string, keep: string[]) =>
    spawnSync(PYTHON, [join(TRAINING, 'prune_outputs.py'), '--base', BASE, '--out', out, '--keep', ...keep], { cwd: TRAINING, encoding: 'utf8', timeout: 120_000 });

  it.skipIf(skipTorch)('loads through the registry and gives the kept outputs bit for bit', async () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const out = join(dir, 'loupe-seg', '9.3.0');
    const r = prune(out, ['seg', 'stones']);
    expect(r.status, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(manifest.version).toBe('9.3.0');
    expect(manifest.outputs.map((o: { name: string }) => o.name)).toEqual(['seg', 'stones']);
    expect(manifest.derivedFrom.version).toBe('1.16.0');
    expect(manifest.derivedFrom.nodes.after).toBeLessThan(manifest.derivedFrom.nodes.before);

    const [base, cut] = await Promise.all([loadModel(BASE, 1), loadModel(out, 1)]);
    expect(cut.session.outputNames).toEqual(['seg', 'stones']);
    expect(cut.verifier).toBeTruthy();
    expect(cut.stoneRefiner).toBeTruthy();
    const [h, w] = [96, 128];
    const x = Float32Array.from({ length: 3 * h * w }, (_, i) => Math.sin(i * 0.37) * 1.8);
    const feed = () => ({ image: new Tensor('float32', x, [1, 3, h, w]) });
    const a = await base.session.run(feed());
    const b = await cut.session.run(feed());
    for (const name of ['seg', 'stones']) {
      const p = a[name]!.data as Float32Array;
      const q = b[name]!.data as Float32Array;
      expect(q.length).toBe(p.length);
      let differing = 0;
      for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) differing++;
      expect(differing, name).toBe(0);
    }
    await Promise.all([releaseModel(base), releaseModel(cut)]);
  });

  it.skipIf(skipTorch)('refuses to cut an output the pipeline reads', () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const r = prune(join(dir, 'loupe-seg', '9.4.0'), ['seg']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/the pipeline reads stones/);
  });
});
