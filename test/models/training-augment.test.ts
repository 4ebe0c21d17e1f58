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

describe('training crops of photos labelled per image only', () => {
  it.skipIf(skipTorch)('take the photo whole for both classes, as the station sees it; photos with located truth stay cropped', () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    // A 300 px casting photo, defective or good, with nothing located in it; the same good photo with a (blank)
    // located truth; and a 1024 px photo labelled per image, too big to pass for a crop. Whole crops out of 40 each.
    const r = python<Record<'defective' | 'good' | 'located' | 'large', number>>(`
import numpy as np
from data import AugConfig, Sample, make_crop
C = 5
def sample(defective, image_level, size=300):
    return Sample(key="k", image=np.full((size, size, 3), 128, np.uint8), bits=np.zeros((size, size), np.uint8),
                  stones=np.zeros((0, 3), np.float32), scale=1.0, mm_per_px=None,
                  known=np.array([not defective] + [True] * (C - 1)), polish_family_only=False, mil=defective,
                  labels={"porosity": defective}, kind_present=np.array([defective] + [False] * (C - 1)),
                  image_level=image_level)
rng = np.random.default_rng(0)
whole = lambda s: sum(bool(make_crop(s, 256, rng, AugConfig())[-1]) for _ in range(40))
print(json.dumps({"defective": whole(sample(True, True)), "good": whole(sample(False, True)),
                  "located": whole(sample(False, False)), "large": whole(sample(False, True, 1024))}))
`);
    expect(r.defective).toBe(40);
    // Until session 8 a good photo was cropped at random like any other, so "whole" itself marked the defective ones.
    expect(r.good).toBe(40);
    expect(r.located).toBeLessThan(30);
    expect(r.large).toBe(0);
  });

  it.skipIf(skipTorch)('are trained at their own size when --crop is not given and every photo fits one crop', () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    const r = python<number[]>(`
import numpy as np
from types import SimpleNamespace
from train import auto_crop
photos = lambda *sides: [SimpleNamespace(image=np.zeros((s, s - 20, 3), np.uint8)) for s in sides]
print(json.dumps([auto_crop(photos(300, 300))[0], auto_crop(photos(300, 384))[0], auto_crop(photos(300, 1024))[0], auto_crop(photos(385))[0]]))
`);
    // 300 px station photos: 304 (the network's multiple of 16), not shrunk to 256; a 12 MP-class photo keeps 256.
    expect(r).toEqual([304, 384, 256, 256]);
  });
});

describe('calibration on photos labelled per image only', () => {
  it.skipIf(skipTorch)("keeps the base's pixel and stone operating points, marked uncalibrated, and calibrates the image gate", () => {
    expect(hasTorch, TORCH_MISSING).toBe(true);
    // Two castings labelled per image (one defective), no masks and no stones: region F1 is 0 at every threshold.
    const r = python<{ without: Record<string, unknown>; with: Record<string, unknown>; stones: Record<string, unknown>; scratch: Record<string, unknown> }>(`
import numpy as np, torch
import net
from calibrate import calibrate
from data import Sample
torch.manual_seed(0)
model = net.build()
C = len(net.SEG_CHANNELS)
def sample(key, defective):
    rng = np.random.default_rng(len(key))
    return Sample(key=key, image=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), bits=np.zeros((64, 64), np.uint8),
                  stones=np.zeros((0, 3), np.float32), scale=1.0, mm_per_px=None,
                  known=np.array([False] + [True] * (C - 1)), polish_family_only=False, mil=True,
                  labels={"porosity": defective, "stone_spacing": False, "polish": False},
                  kind_present=np.array([defective] + [False] * (C - 1)))
samples = [sample("a", True), sample("bb", False)]
base = {"porosity": {"pixelThreshold": 0.8, "minAreaPx": 25.0, "imageThreshold": 0.89},
        "polish": {k: {"pixelThreshold": 0.6, "minAreaPx": 12.0, "imageThreshold": 0.7} for k in net.POLISH_KINDS},
        "stones": {"peakThreshold": 0.25, "nmsRadiusFactor": 1.0}}
quiet = lambda *_: None
without, _ = calibrate(model, samples, quiet)
ops, _ = calibrate(model, samples, quiet, base)
print(json.dumps({"without": without["porosity"], "with": ops["porosity"], "stones": ops["stones"], "scratch": ops["polish"]["scratch"]}))
`);
    // The old behaviour, which the fallback replaces: the lowest threshold and no minimum area.
    expect(r.without).toMatchObject({ pixelThreshold: 0.05, minAreaPx: 0 });
    expect(r.with).toMatchObject({ pixelThreshold: 0.8, minAreaPx: 25, pixelCalibrated: false });
    // One positive and one negative: the image gate is calibrated on them, not taken from the base.
    expect(r.with.imageThreshold).not.toBe(0.89);
    expect(r.stones).toEqual({ peakThreshold: 0.25, nmsRadiusFactor: 1 });
    // Polish: no positive photo, so neither the pixel nor the image threshold can be calibrated.
    expect(r.scratch).toMatchObject({ pixelThreshold: 0.6, minAreaPx: 12, imageThreshold: 0.7, pixelCalibrated: false });
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
