import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../pipeline/inspect.js';
import { loadModel, releaseModel, type LoadedModel } from '../../pipeline/registry.js';
import { polishFamilyGate, polishFamilyScore } from '../../pipeline/polish-family.js';
import { InspectionReportSchema, POLISH_KINDS } from '../../pipeline/report.schema.js';
import { editJson, ringProfile } from './helpers.js';

// The shipped model's polish verifier, through inspect() on the committed generator samples: what an inspector sees
// must agree with the score that flagged the piece.
const ROOT = join(import.meta.dirname, '../..');
const SAMPLES = join(ROOT, 'datasets/samples');
const PHOTOS = [8, 12, 15, 18, 21]; // scratches, scratches + haze, two clean

async function shippedWithVerifier(): Promise<string> {
  const root = join(ROOT, 'models/loupe-seg');
  const { readdir } = await import('node:fs/promises');
  const versions = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  for (const v of versions.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))) {
    const json = JSON.parse(await readFile(join(root, v, 'model.json'), 'utf8')) as { verifier?: unknown };
    if (json.verifier) return join(root, v);
  }
  throw new Error(`no version under ${root} ships a verifier`);
}

describe('inspect() behind the polish verifier', () => {
  let withVerifier: LoadedModel;
  let without: LoadedModel;
  let tmp: string;
  const entries: Array<{ file: string; mmPerPx: number; metal: string }> = [];

  beforeAll(async () => {
    const dir = await shippedWithVerifier();
    withVerifier = await loadModel(dir, 1);
    // The same version with its verifier section removed: the seg model's evidence planes score the kinds again.
    tmp = await mkdtemp(join(tmpdir(), 'loupe-noverifier-'));
    const copy = join(tmp, 'loupe-seg', dir.split('/').at(-1)!);
    await cp(dir, copy, { recursive: true });
    await editJson(join(copy, 'model.json'), (j) => {
      delete j.verifier;
    });
    without = await loadModel(copy, 1);
    const lines = (await readFile(join(SAMPLES, 'manifest.jsonl'), 'utf8')).trim().split('\n');
    for (const i of PHOTOS) entries.push(JSON.parse(lines[i]!));
  });
  afterAll(async () => {
    await releaseModel(withVerifier);
    await releaseModel(without);
    await rm(tmp, { recursive: true, force: true });
  });

  it('shows a counted finding of a kind exactly when the kind reaches its gate', async () => {
    const profile = ringProfile();
    let differs = 0;
    let porosityDiffers = 0;
    let rescaled = 0;
    const calibration = withVerifier.manifest.operatingPoints.polishCalibration;
    const verifiesPorosity = withVerifier.manifest.verifier!.kinds.includes('porosity');
    for (const e of entries) {
      const bytes = await readFile(join(SAMPLES, e.file));
      const report = InspectionReportSchema.parse(await inspect(bytes, { mmPerPx: e.mmPerPx, metal: e.metal }, profile, { models: [withVerifier] }));
      const polish = report.families.polish;
      for (const kind of POLISH_KINDS) {
        const reaches = polish.kindScores[kind]! >= polish.kindGates![kind]!.scoreThreshold;
        const counted = polish.findings.filter((f) => f.kind === kind && !f.belowGate);
        expect(counted.length > 0, `${e.file} ${kind}: score ${polish.kindScores[kind]} gate ${polish.kindGates![kind]!.scoreThreshold}`).toBe(reaches);
      }
      // The family's score and gate are its kinds' on the version's common scale (loupe-seg 1.15: polishCalibration).
      const kinds = POLISH_KINDS.map((k) => ({ kind: k, score: polish.kindScores[k]! }));
      expect(polish.score).toBeCloseTo(polishFamilyScore(kinds, calibration), 3);
      expect(polish.gate.scoreThreshold).toBeCloseTo(polishFamilyGate(POLISH_KINDS.map((k) => ({ kind: k, gate: polish.kindGates![k]!.scoreThreshold })), calibration), 4);
      if (POLISH_KINDS.some((k) => polish.kindScores[k]! >= polish.kindGates![k]!.scoreThreshold)) {
        expect(polish.score).toBeGreaterThanOrEqual(polish.gate.scoreThreshold);
      }
      if (Math.abs(polish.score - Math.max(...kinds.map((k) => k.score))) > 1e-3) rescaled++;
      // The verifier runs inside post-processing but counts as preprocess (patches) and inference (network): every
      // millisecond in one stage only, so the stages add up to no more than the total.
      const t = report.timingsMs;
      expect(t.decode + t.quality + t.preprocess + t.inference + t.postprocess, JSON.stringify(t)).toBeLessThanOrEqual(t.total + 0.5);
      const plain = await inspect(bytes, { mmPerPx: e.mmPerPx, metal: e.metal }, profile, { models: [without] });
      // Two versions can share a seg network and differ only in their verifier: the report names both files.
      expect(report.models).toEqual([
        { id: withVerifier.id, version: withVerifier.version, sha256: withVerifier.manifest.sha256, verifierSha256: withVerifier.manifest.verifier!.sha256 },
      ]);
      expect(plain.models[0]!.verifierSha256).toBeUndefined();
      if (POLISH_KINDS.some((k) => plain.families.polish.kindScores[k] !== polish.kindScores[k])) differs++;
      // Porosity goes through the verifier only when the verifier lists it (loupe-seg 1.3); stones never do.
      if (!verifiesPorosity) expect(plain.families.porosity.score).toBe(report.families.porosity.score);
      else if (plain.families.porosity.score !== report.families.porosity.score) porosityDiffers++;
      expect(plain.families.stone_spacing.stones).toEqual(report.families.stone_spacing.stones);
    }
    expect(differs).toBe(entries.length);
    if (calibration) expect(rescaled).toBeGreaterThan(0);
    if (verifiesPorosity) expect(porosityDiffers).toBe(entries.length);
  }, 120_000);
});
