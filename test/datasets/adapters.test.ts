import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectedComponents, equivalentDiameter } from '../../datasets/adapters/components.js';
import { importDataset, OutputNotEmptyError, SourceLayoutError, SourceMissingError } from '../../datasets/adapters/index.js';
import { defaultSourceDir, REPO_ROOT } from '../../datasets/adapters/source.js';
import { namesInSplit, splitOfIndex } from '../../datasets/adapters/split.js';
import { checkDataset } from '../../datasets/check.js';
import { loadManifest } from '../../datasets/manifest-io.js';
import type { ManifestEntry } from '../../datasets/manifest.schema.js';
import {
  FIRST_BLOWHOLE_BOXES,
  MT_SIZE,
  fixtureNames,
  makeCastingTree,
  makeMagneticTileTree,
} from '../fixtures/datasets/source-trees.js';

const run = promisify(execFile);
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'loupe-adapters-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function countBy(entries: ManifestEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of entries) counts[e.origin!.class] = (counts[e.origin!.class] ?? 0) + 1;
  return counts;
}

describe('split rule', () => {
  it('sends index 0 mod 5 to test, 1 mod 5 to val and the rest to train', () => {
    expect(Array.from({ length: 7 }, (_, i) => splitOfIndex(i))).toEqual([
      'test', 'val', 'train', 'train', 'train', 'test', 'val',
    ]);
  });

  it('orders names by bytes, not numerically or by locale', () => {
    const names = ['a_n9.jpg', 'a_n10.jpg', 'Z_n3.jpg', 'a_n1.jpg'];
    // Byte order: Z_n3, a_n1, a_n10, a_n9
    expect(namesInSplit(names, 'test')).toEqual(['Z_n3.jpg']);
    expect(namesInSplit(names, 'val')).toEqual(['a_n1.jpg']);
    expect(namesInSplit(names, 'train')).toEqual(['a_n10.jpg', 'a_n9.jpg']);
  });
});

describe('connected components', () => {
  it('joins diagonal neighbours and gives end-exclusive boxes', () => {
    const w = 6;
    const mask = new Uint8Array(w * 4);
    mask[0] = 255; // (0,0)
    mask[1 * w + 1] = 255; // (1,1) diagonal to (0,0)
    mask[3 * w + 4] = 255; // (4,3) alone
    mask[3 * w + 5] = 255;
    expect(connectedComponents(mask, w, 4)).toEqual([
      { bbox: [0, 0, 2, 2], areaPx: 2 },
      { bbox: [4, 3, 6, 4], areaPx: 2 },
    ]);
    expect(equivalentDiameter(Math.PI * 25)).toBeCloseTo(10, 9);
  });
});

describe('magnetic-tile adapter', () => {
  let src: string;
  beforeAll(async () => {
    src = join(tmp, 'mt-src');
    await makeMagneticTileTree(src, { blowhole: 12, free: 7, crack: 3 });
  });

  it.each([
    ['test', { MT_Blowhole: 3, MT_Free: 2 }],
    ['val', { MT_Blowhole: 3, MT_Free: 2 }],
    ['train', { MT_Blowhole: 6, MT_Free: 3 }],
  ] as const)('imports the %s split with the sizes the rule gives and leaves other classes out', async (split, counts) => {
    const out = join(tmp, `mt-${split}`);
    const { entries } = await importDataset({ name: 'magnetic-tile', split, out, from: src });
    expect(countBy(entries)).toEqual(counts);
    expect(entries.every((e) => e.split === split && e.source === 'magnetic-tile')).toBe(true);
    expect(await loadManifest(out)).toHaveLength(entries.length);
    const check = await checkDataset(out, { deep: true });
    expect(check.problems).toEqual([]);
  });

  it('maps blowholes to porosity with a 0/255 single-channel mask and one box per component', async () => {
    const out = join(tmp, 'mt-test');
    const entries = await loadManifest(out);
    const first = entries[0];
    const firstName = fixtureNames(12, '.jpg').sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))[0];
    expect(first.origin).toEqual({ class: 'MT_Blowhole', file: firstName });
    expect(first.labels).toEqual({ porosity: true, stone_spacing: false, polish: false });
    expect(first.labelLevel).toBe('pixel');
    expect(first.defects.map((d) => d.bbox)).toEqual(FIRST_BLOWHOLE_BOXES);
    expect(first.defects[0]).toMatchObject({ family: 'porosity', kind: 'blowhole', sizeMm: null, areaPx: 21 });
    expect(first.defects[0].sizePx).toBeCloseTo(equivalentDiameter(21), 2);

    const maskPath = join(out, first.masks.porosity!);
    const meta = await sharp(maskPath).metadata();
    expect({ format: meta.format, channels: meta.channels, depth: meta.depth }).toEqual({ format: 'png', channels: 1, depth: 'uchar' });
    expect([meta.width, meta.height]).toEqual([MT_SIZE.width, MT_SIZE.height]);
    const pixels = await sharp(maskPath).extractChannel(0).raw().toBuffer();
    expect(new Set(pixels)).toEqual(new Set([0, 255]));
    expect(pixels.filter((v) => v === 255).length).toBe(21 + 9);

    // Image bytes are copied, not re-encoded.
    const copied = await readFile(join(out, first.file));
    expect(copied.equals(await readFile(join(src, 'MT_Blowhole', 'Imgs', firstName)))).toBe(true);
  });

  it('maps free tiles to all labels false with no masks', async () => {
    const free = (await loadManifest(join(tmp, 'mt-test'))).filter((e) => e.origin?.class === 'MT_Free');
    expect(free).toHaveLength(2);
    for (const e of free) {
      expect(e.labels).toEqual({ porosity: false, stone_spacing: false, polish: false });
      expect(e.masks).toEqual({ porosity: null, polish: null });
      expect(e.defects).toEqual([]);
      expect({ mmPerPx: e.mmPerPx, metal: e.metal, piece: e.piece, view: e.view }).toEqual({
        mmPerPx: null, metal: null, piece: null, view: null,
      });
    }
  });

  it('refuses a mask whose size differs from its image, naming the mask', async () => {
    const bad = join(tmp, 'mt-bad-src');
    // Byte order Z_n3, a_n0, a_n1, ...: a_n0 is index 1, so the val split reads its mask.
    await makeMagneticTileTree(bad, { blowhole: 6, free: 1, wrongSizeMaskAt: 0 });
    const attempt = importDataset({ name: 'magnetic-tile', split: 'val', out: join(tmp, 'mt-bad-val'), from: bad });
    await expect(attempt).rejects.toThrow(SourceLayoutError);
    await expect(attempt).rejects.toThrow(/MT_Blowhole\/Imgs\/a_n0\.png is 40x31 but its image is 40x30/);
    expect(existsSync(join(tmp, 'mt-bad-val', 'manifest.jsonl'))).toBe(false);
  });

  it('names the class folder it expected when --from points at the wrong folder', async () => {
    const attempt = importDataset({ name: 'magnetic-tile', split: 'val', out: join(tmp, 'mt-wrong'), from: tmp });
    await expect(attempt).rejects.toThrow(`expected folder MT_Blowhole/Imgs not found in ${tmp}`);
  });

  it('refuses a non-empty output folder unless forced, and a forced import is byte-identical', async () => {
    const out = join(tmp, 'mt-force');
    await importDataset({ name: 'magnetic-tile', split: 'val', out, from: src });
    const before = await readFile(join(out, 'manifest.jsonl'));
    await writeFile(join(out, 'images', 'stray.jpg'), 'left over');
    await expect(importDataset({ name: 'magnetic-tile', split: 'val', out, from: src })).rejects.toThrow(OutputNotEmptyError);
    await importDataset({ name: 'magnetic-tile', split: 'val', out, from: src, force: true });
    expect((await readFile(join(out, 'manifest.jsonl'))).equals(before)).toBe(true);
    expect(await readdir(join(out, 'images', 'MT_Blowhole'))).not.toContain('stray.jpg');
    expect(existsSync(join(out, 'images', 'stray.jpg'))).toBe(false);
  });
});

describe('casting-impeller adapter', () => {
  let src: string;
  beforeAll(async () => {
    src = join(tmp, 'ci-src');
    await makeCastingTree(src, { train: { def: 10, ok: 8 }, test: { def: 4, ok: 3 } });
  });

  it.each([
    ['test', { def_front: 4, ok_front: 3 }],
    ['val', { def_front: 2, ok_front: 2 }],
    ['train', { def_front: 8, ok_front: 6 }],
  ] as const)('imports the %s split: test is its test/ folder whole, train/ is split into val and train', async (split, counts) => {
    const out = join(tmp, `ci-${split}`);
    const { entries } = await importDataset({ name: 'casting-impeller', split, out, from: src });
    expect(countBy(entries)).toEqual(counts);
    const folders = new Set(entries.map((e) => (e.origin as { folder?: string }).folder));
    expect(folders).toEqual(new Set([split === 'test' ? 'test' : 'train']));
    expect((await checkDataset(out, { deep: true })).problems).toEqual([]);
  });

  it('puts every train/ photo in exactly one of train and val', async () => {
    const names = async (split: 'train' | 'val') =>
      (await importDataset({ name: 'casting-impeller', split, out: join(tmp, `ci-all-${split}`), from: src })).entries.map(
        (e) => e.file,
      );
    const [train, val] = [await names('train'), await names('val')];
    expect(train.filter((f) => val.includes(f))).toEqual([]);
    expect(train.length + val.length).toBe(18);
  });

  it('leaves out of train and val every train/ photo whose bytes are a test/ photo, and says which', async () => {
    const leaky = join(tmp, 'ci-leaky-src');
    await makeCastingTree(leaky, { train: { def: 10, ok: 8 }, test: { def: 4, ok: 3 }, trainCopiesOfTest: 2 });
    const testBytes = new Set<string>();
    for (const e of (await importDataset({ name: 'casting-impeller', split: 'test', out: join(tmp, 'ci-leaky-test'), from: leaky })).entries) {
      testBytes.add((await readFile(join(tmp, 'ci-leaky-test', e.file))).toString('base64'));
    }
    expect(testBytes.size).toBe(7);
    const kept: string[] = [];
    const notes: string[] = [];
    for (const split of ['train', 'val'] as const) {
      const out = join(tmp, `ci-leaky-${split}`);
      const result = await importDataset({ name: 'casting-impeller', split, out, from: leaky });
      for (const e of result.entries) {
        expect(testBytes.has((await readFile(join(out, e.file))).toString('base64'))).toBe(false);
        kept.push(e.file);
      }
      notes.push(...result.notes);
    }
    expect(kept.length).toBe(18 - 4);
    const named = notes.join('\n').match(/(def|ok)_front\/[^,\s]+/g) ?? [];
    expect(named.sort()).toEqual(
      ['def_front', 'ok_front'].flatMap((c) => fixtureNames(10, '.jpeg').slice(0, 2).map((n) => `${c}/${n}`)).sort(),
    );
  });

  it('labels defective castings image-level porosity with no mask and no box', async () => {
    const entries = await loadManifest(join(tmp, 'ci-test'));
    for (const e of entries) {
      const defective = e.origin?.class === 'def_front';
      expect(e.labels).toEqual({ porosity: defective, stone_spacing: false, polish: false });
      expect(e.masks).toEqual({ porosity: null, polish: null });
      expect(e.defects).toEqual([]);
      expect(e.labelLevel).toBe('image');
      expect([e.width, e.height]).toEqual([32, 32]);
    }
  });
});

describe('missing source', () => {
  it('says where it looked and how to pass --from', async () => {
    const missing = join(tmp, 'nowhere');
    const attempt = importDataset({ name: 'casting-impeller', split: 'test', out: join(tmp, 'x'), from: missing });
    await expect(attempt).rejects.toThrow(SourceMissingError);
    await expect(attempt).rejects.toThrow(`casting-impeller source not found at ${missing}`);
    await expect(attempt).rejects.toThrow('pass --from');
    expect(existsSync(join(tmp, 'x'))).toBe(false);
  });

  it('makes `loupe dataset import` exit 1 with one line', async () => {
    const missing = join(tmp, 'nowhere');
    const result = await run(process.execPath, [
      join(REPO_ROOT, 'cli/bin/loupe.js'), 'dataset', 'import', 'magnetic-tile', '--split', 'test',
      '--out', join(tmp, 'y'), '--from', missing,
    ]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `error: magnetic-tile source not found at ${missing} (from --from); pass --from <folder containing MT_Blowhole/Imgs and MT_Free/Imgs>`,
    ]);
  });
});

// The real set is data kept beside the repo on some machines only; its absence is expected, not a failure.
const realMagneticTile = defaultSourceDir('magnetic-tile');
describe.skipIf(!existsSync(realMagneticTile))('real magnetic-tile set', () => {
  it('imports its test split as 23 blowholes and 40 free tiles, and the folder checks', async () => {
    const out = join(tmp, 'real-mt-test');
    const { entries } = await importDataset({ name: 'magnetic-tile', split: 'test', out });
    expect(countBy(entries)).toEqual({ MT_Blowhole: 23, MT_Free: 40 });
    expect((await checkDataset(out)).ok).toBe(true);
  });
});
