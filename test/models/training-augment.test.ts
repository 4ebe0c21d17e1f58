import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PYTHON, torchSuite } from '../core/support/env.js';

const TRAINING = join(import.meta.dirname, '../../models/training');
const { hasTorch, skip: skipTorch, missing: TORCH_MISSING } = torchSuite();

/** Runs a Python snippet with models/training on the path and returns the JSON it prints. */
function python<T>(code: string): T {
  const out = execFileSync(PYTHON, ['-c', `import sys, json; sys.path.insert(0, ${JSON.stringify(TRAINING)})\n${code}`], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out) as T;
}

describe('any-angle turns of training crops', () => {
  it.skipIf(skipTorch)('move the picture, its mask and its stone centres together, with no dark corners', () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    // A bright 5x5 mark at a stone centre off the middle of a mid-grey square; after each turn the mark's centroid in
    // the picture and in the mask must sit where the stone's centre went.
    const result = python<{ angle: number; stone: number[]; picture: number[]; mask: number[]; darkCorners: number }[]>(`
import numpy as np
from data import _turn
size = 96
img = np.full((size, size, 3), 120, np.uint8)
bits = np.zeros((size, size), np.uint8)
cx, cy = 70.5, 30.5
img[28:33, 68:73] = 255
bits[28:33, 68:73] = 1
stones = np.array([[cx, cy, 4.0]], np.float64)
out = []
for angle in (0.0, 37.0, 90.0, 211.0):
    ti, tb, ts = _turn(img, bits, stones, angle)
    ys, xs = np.nonzero(ti[..., 0] > 200)
    ms = np.nonzero(tb)
    out.append({"angle": angle, "stone": [float(ts[0, 0]), float(ts[0, 1]), float(ts[0, 2])],
                "picture": [float(xs.mean() + 0.5), float(ys.mean() + 0.5)],
                "mask": [float(ms[1].mean() + 0.5), float(ms[0].mean() + 0.5)],
                "darkCorners": int((ti[..., 0] < 60).sum())})
print(json.dumps(out))
`);
    for (const r of result) {
      expect(r.stone[2], `radius at ${r.angle}°`).toBe(4);
      for (const [name, at] of [['picture', r.picture], ['mask', r.mask]] as const) {
        expect(Math.hypot(at[0]! - r.stone[0]!, at[1]! - r.stone[1]!), `${name} vs stone at ${r.angle}°`).toBeLessThan(1);
      }
      expect(r.darkCorners, `corners filled from the border at ${r.angle}°`).toBe(0);
    }
    // A quarter turn counter-clockwise on screen takes (70.5, 30.5) about (48, 48) to (30.5, 25.5).
    const quarter = result.find((r) => r.angle === 90)!;
    expect(quarter.stone[0]).toBeCloseTo(30.5, 5);
    expect(quarter.stone[1]).toBeCloseTo(25.5, 5);
  });
});

describe('weight average', () => {
  it.skipIf(skipTorch)('starts at the first weights, follows them with the ramped decay, and copies integer buffers', () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const r = python<{ after1: number; after2: number; expected2: number; tracked: number; live: number }>(`
import torch
from train import WeightAverage
m = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False), torch.nn.BatchNorm1d(1))
with torch.no_grad():
    m[0].weight.fill_(1.0)
ema = WeightAverage(m, 0.9)
with torch.no_grad():
    m[0].weight.fill_(3.0)
m.train(); m(torch.randn(4, 1))
ema.update(m)  # decay min(0.9, 2/11)
after1 = float(ema.shadow["0.weight"])
with torch.no_grad():
    m[0].weight.fill_(5.0)
ema.update(m)  # decay min(0.9, 3/12)
after2 = float(ema.shadow["0.weight"])
d1, d2 = 2 / 11, 3 / 12
e1 = d1 * 1 + (1 - d1) * 3
print(json.dumps({"after1": after1, "after2": after2, "expected2": d2 * e1 + (1 - d2) * 5,
                  "tracked": int(ema.shadow["1.num_batches_tracked"]), "live": int(m[1].num_batches_tracked)}))
`);
    expect(r.after1).toBeCloseTo((2 / 11) * 1 + (9 / 11) * 3, 5);
    expect(r.after2).toBeCloseTo(r.expected2, 5);
    expect(r.tracked).toBe(r.live);
  });
});

describe('train.py --ema --rotate', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.skipIf(skipTorch)(
    'trains with any-angle turns and exports the weight average, not the last weights',
    () => {
      expect(hasTorch, TORCH_MISSING).toBe(true);
      const tmp = mkdtempSync(join(tmpdir(), 'loupe-ema-'));
      dirs.push(tmp);
      const loupe = join(import.meta.dirname, '../../cli/bin/loupe.js');
      for (const [name, count, seed] of [['train', 6, 11], ['val', 4, 12]] as const) {
        // prettier-ignore
        execFileSync(process.execPath, [loupe, 'synth', '--out', join(tmp, name), '--count', String(count), '--seed', String(seed), '--size', '384'], { stdio: 'pipe', timeout: 60_000 });
      }
      const out = join(tmp, 'models/loupe-seg/0.0.1');
      // prettier-ignore
      execFileSync(PYTHON, [join(TRAINING, 'train.py'), '--smoke', '--ema', '0.9', '--rotate', '--data', join(tmp, 'train'),
        '--val', join(tmp, 'val'), '--out', out, '--run', 'ema', '--runs-dir', join(tmp, 'runs')], { stdio: 'pipe', timeout: 150_000 });
      const r = python<{ shadowMatches: boolean; lastMatches: boolean; updates: number; steps: number; anyAngle: boolean }>(`
import torch
ck = torch.load(${JSON.stringify(join(tmp, 'runs/ema/last.pt'))}, map_location="cpu")
w = torch.load(${JSON.stringify(join(out, 'weights.pt'))}, map_location="cpu")["model"]
same = lambda a: all(torch.equal(w[k], a[k]) for k in w)
print(json.dumps({"shadowMatches": same(ck["ema"]["shadow"]), "lastMatches": same(ck["model"]),
                  "updates": ck["ema"]["updates"], "steps": ck["step"], "anyAngle": ck["training"]["anyAngle"]}))
`);
      expect(r.shadowMatches).toBe(true);
      expect(r.lastMatches).toBe(false);
      expect(r.updates).toBe(r.steps);
      expect(r.anyAngle).toBe(true);
    },
    240_000,
  );
});
