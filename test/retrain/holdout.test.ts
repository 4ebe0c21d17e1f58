import { describe, expect, it } from 'vitest';
import type { ManifestEntry } from '../../datasets/manifest.schema.js';
import { classificationMetrics } from '../../models/eval/metrics.js';
import { allBut, holdoutHash, splitFolds, splitHoldout, wholeFolders } from '../../models/retrain/holdout.js';
import { previousVersions, type HistoryEvent } from '../../models/retrain/model-admin.js';
import { parseModelRef } from '../../models/retrain/model-ref.js';
import { parseStepLine } from '../../models/retrain/train-progress.js';

function entry(file: string, porosity: boolean): ManifestEntry {
  return {
    schemaVersion: 1,
    file,
    width: 300,
    height: 300,
    mmPerPx: null,
    source: 'test',
    metal: null,
    piece: null,
    view: null,
    labels: { porosity, stone_spacing: false, polish: false },
    masks: { porosity: null, polish: null },
    defects: [],
    stones: [],
    stoneRow: null,
    labelLevel: 'image',
  };
}

const folder = (n: number, prefix = 'img') => ({
  dir: '/data',
  entries: Array.from({ length: n }, (_, i) => entry(`images/${prefix}-${i}.png`, i % 3 === 0)),
});

const names = (part: { items: Array<{ entry: ManifestEntry }> }) => part.items.map((i) => i.entry.file).sort();

describe('validation hold-out', () => {
  it('is deterministic and puts each photo on one side only', () => {
    const a = splitHoldout([folder(200)], 0.2);
    const b = splitHoldout([folder(200)], 0.2);
    expect(names(a.val)).toEqual(names(b.val));
    const val = new Set(names(a.val));
    expect(names(a.train).some((f) => val.has(f))).toBe(false);
    expect(a.train.items.length + a.val.items.length).toBe(200);
    expect(a.val.items.length).toBeGreaterThan(20);
    expect(a.val.items.length).toBeLessThan(60);
  });

  it('keeps every earlier photo on its side when photos are added (a validation photo never becomes a training photo)', () => {
    const before = splitHoldout([folder(100)], 0.2);
    const grown = folder(100);
    grown.entries.push(...folder(50, 'new').entries);
    const after = splitHoldout([grown], 0.2);
    const afterVal = new Set(names(after.val));
    for (const f of names(before.val)) expect(afterVal.has(f), f).toBe(true);
  });

  it('is stratified by label: both parts hold positives and negatives, even for a rare label', () => {
    const f = folder(40);
    f.entries = f.entries.map((e, i) => ({ ...e, labels: { ...e.labels, porosity: i < 2 } }));
    const { train, val } = splitHoldout([f], 0.2);
    for (const part of [train, val]) {
      expect(part.items.some((i) => i.entry.labels.porosity)).toBe(true);
      expect(part.items.some((i) => !i.entry.labels.porosity)).toBe(true);
    }
  });

  it('hashes the file name to [0, 1)', () => {
    const h = holdoutHash('images/a.png');
    expect(h).toBeGreaterThanOrEqual(0);
    expect(h).toBeLessThan(1);
    expect(holdoutHash('images/a.png')).toBe(h);
  });
});

describe('training folds (loupe train --folds)', () => {
  it('puts every photo in exactly one fold, and member k trains on every fold but k', () => {
    const part = wholeFolders([folder(60)]);
    const folds = splitFolds(part, 5);
    expect(folds).toHaveLength(5);
    expect(folds.flatMap(names).sort()).toEqual(names(part));
    for (const [k, fold] of folds.entries()) {
      const rest = names(allBut(folds, k));
      expect(rest.length + fold.items.length).toBe(60);
      expect(names(fold).filter((f) => rest.includes(f))).toEqual([]);
    }
  });

  it('keeps a photo in its fold when photos are added', () => {
    const before = splitFolds(wholeFolders([folder(40)]), 4);
    const after = splitFolds(wholeFolders([folder(40), folder(30, 'new')]), 4);
    for (const k of [0, 1, 2, 3]) expect(names(after[k]!)).toEqual(expect.arrayContaining(names(before[k]!)));
  });

  it('gives every fold a photo of each label combination that has at least k photos, even a rare one', () => {
    // 5 positives among 40: the hash alone would leave some fold without a positive.
    const rare = { dir: '/data', entries: Array.from({ length: 40 }, (_, i) => entry(`images/rare-${i}.png`, i < 5)) };
    const folds = splitFolds(wholeFolders([rare]), 5);
    for (const f of folds) expect(f.items.filter((i) => i.entry.labels.porosity)).toHaveLength(1);
  });

  it('puts photos with the same key (loupe train: the same bytes) in the same fold', () => {
    const part = wholeFolders([folder(50)]);
    // Pairs of names standing for pairs of byte-identical copies.
    const folds = splitFolds(part, 5, (item) => item.entry.file.replace(/-(\d+)\.png$/, (_, n: string) => `-${Math.floor(Number(n) / 2)}`));
    const foldOf = new Map(folds.flatMap((f, k) => f.items.map((i) => [i.entry.file, k] as const)));
    for (let i = 0; i < 50; i += 2) expect(foldOf.get(`images/img-${i}.png`)).toBe(foldOf.get(`images/img-${i + 1}.png`));
  });

  it('refuses fewer than two folds', () => {
    expect(() => splitFolds(wholeFolders([folder(10)]), 1)).toThrow(/folds must be an integer >= 2/);
  });
});

describe('train.py progress lines', () => {
  it('reads step, total, loss, seconds per step and ETA', () => {
    const p = parseStepLine('[16:37:07] step 140/2400 loss 1.2472 (bce 0.0641 dice 0.996 fam 0.000 mil 0.000 heat 3.530 rad 0.364) lr 1.40e-03 1.25s/step ETA 47.2min');
    expect(p).toEqual({ step: 140, total: 2400, loss: 1.2472, secondsPerStep: 1.25, etaMinutes: 47.2 });
    expect(parseStepLine('[16:38:03] checkpoint /x/last.pt at step 200')).toBeNull();
  });
});

describe('promotion history', () => {
  const ev = (action: HistoryEvent['action'], from: string | null, to: string): HistoryEvent => ({ action, from, to, at: '', by: 't', sha256: '' });
  it('rolls back like a stack: two promotions, two rollbacks land on the first version', () => {
    const h = [ev('promote', '1.0.0', '1.1.0'), ev('promote', '1.1.0', '1.2.0')];
    expect(previousVersions(h).at(-1)).toBe('1.1.0');
    expect(previousVersions([...h, ev('rollback', '1.2.0', '1.1.0')]).at(-1)).toBe('1.0.0');
    expect(previousVersions([...h, ev('rollback', '1.2.0', '1.1.0'), ev('rollback', '1.1.0', '1.0.0')])).toEqual([]);
  });
  it('parses model references', () => {
    expect(parseModelRef('loupe-seg')).toEqual({ id: 'loupe-seg' });
    expect(parseModelRef('loupe-seg@1.2.0')).toEqual({ id: 'loupe-seg', version: '1.2.0' });
    expect(() => parseModelRef('Loupe Seg')).toThrow(/not a model reference/);
  });
});

describe('eval accuracy', () => {
  it('is the share of images whose flag matches the label', () => {
    const m = classificationMetrics([0.9, 0.8, 0.1, 0.2], [true, false, false, true], [true, true, false, false]);
    expect(m.accuracy).toBe(0.5);
    expect(classificationMetrics([], [], []).accuracy).toBeNull();
  });
});
