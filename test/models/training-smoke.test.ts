import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PYTHON, torchSuite } from '../core/support/env.js';
import { ModelManifestSchema } from '../../pipeline/model-manifest.schema.js';

const ROOT = join(import.meta.dirname, '../..');
const TRAIN = join(ROOT, 'models/training/train.py');
const TINY_SYNTH = join(ROOT, 'models/training/tiny_synth.py');
const LOUPE = join(ROOT, 'cli/bin/loupe.js');

const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

/** The real generator once `loupe synth` is registered; until then the crude Python stand-in with the same schema. */
function makeManifestFolder(out: string, count: number, seed: number): string {
  const help = spawnSync(process.execPath, [LOUPE, '--help'], { encoding: 'utf8' });
  if (/^\s+synth\b/m.test(help.stdout ?? '')) {
    execFileSync(process.execPath, [LOUPE, 'synth', '--out', out, '--count', String(count), '--seed', String(seed), '--size', '384'], {
      stdio: 'pipe',
      timeout: 60_000,
    });
    return 'loupe synth';
  }
  execFileSync(PYTHON, [TINY_SYNTH, '--out', out, '--count', String(count), '--seed', String(seed)], { stdio: 'pipe' });
  return 'tiny_synth.py';
}

describe('training smoke run', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.skipIf(skipTorch)(
    'trains, calibrates and exports a model folder the pipeline accepts',
    async () => {
      expect(hasTorch, TORCH_MISSING).toBe(true);
      const tmp = mkdtempSync(join(tmpdir(), 'loupe-smoke-'));
      dirs.push(tmp);
      const source = makeManifestFolder(join(tmp, 'train'), 8, 5);
      makeManifestFolder(join(tmp, 'val'), 4, 6);
      const out = join(tmp, 'models/loupe-seg/0.0.0-smoke');
      // prettier-ignore
      const args = [TRAIN, '--smoke', '--data', join(tmp, 'train'), '--val', join(tmp, 'val'), '--out', out,
        '--run', 'smoke', '--runs-dir', join(tmp, 'runs'), '--seed', '3'];
      try {
        execFileSync(PYTHON, args, { stdio: 'pipe', timeout: 150_000, cwd: ROOT });
      } catch (err) {
        const e = err as { stdout?: Buffer; stderr?: Buffer };
        throw new Error(`train.py --smoke failed on ${source} data:\n${e.stdout}\n${e.stderr}`);
      }

      const manifest = ModelManifestSchema.parse(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')));
      expect(manifest.id).toBe('loupe-seg');
      expect(manifest.version).toBe('0.0.0-smoke');
      expect(manifest.opset).toBe(17);
      expect(manifest.input.name).toBe('image');
      expect(manifest.outputs.map((o) => o.name)).toEqual(['seg', 'stones', 'evidence']);
      const onnxBytes = readFileSync(join(out, manifest.file));
      expect(createHash('sha256').update(onnxBytes).digest('hex')).toBe(manifest.sha256);
      expect(manifest.sizeBytes).toBe(onnxBytes.byteLength);
      expect(manifest.sizeBytes).toBeLessThan(20 * 1024 * 1024);
      expect(readFileSync(join(out, 'MODEL_CARD.md'), 'utf8')).toContain('## Limitations');

      const session = await ort.InferenceSession.create(join(out, manifest.file), { intraOpNumThreads: 2, interOpNumThreads: 1 });
      expect(session.inputNames).toEqual([manifest.input.name]);
      const [h, w] = [64, 96];
      const result = await session.run({ image: new ort.Tensor('float32', new Float32Array(3 * h * w), [1, 3, h, w]) });
      const seg = manifest.outputs.find((o) => o.name === 'seg')!;
      const stones = manifest.outputs.find((o) => o.name === 'stones')!;
      expect(result.seg.dims).toEqual([1, seg.channels.length, h, w]);
      expect(result.stones.dims).toEqual([1, stones.channels.length, h, w]);
      expect(seg.channels).toEqual(['porosity', 'scratch', 'haze', 'tool_mark', 'orange_peel']);
      // The evidence plane per seg channel, at the input's resolution, is what the pipeline's image scores read.
      const evidence = manifest.outputs.find((o) => o.name === 'evidence')!;
      expect(evidence.channels).toEqual(seg.channels.map((c) => `${c}_evidence`));
      expect(result.evidence.dims).toEqual([1, seg.channels.length, h, w]);
      await session.release();

      // A resume at another working scale would mix two scales in one model: refused, naming both.
      const mixed = spawnSync(PYTHON, [...args, '--resume', '--working-mm-per-px', '0.048'], { encoding: 'utf8', timeout: 60_000, cwd: ROOT });
      expect(mixed.status).not.toBe(0);
      expect(mixed.stderr).toMatch(/--resume: .*trained at 0\.012 mm\/px, this command asks for 0\.048/);
    },
    240_000,
  );
});
