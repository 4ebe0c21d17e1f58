import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../../datasets/synth/generate.js';
import { EvalResultSchema } from '../../models/eval/eval-result.schema.js';
import { runEval, runEvalWithImages } from '../../models/eval/run-eval.js';
import { auroc } from '../../models/eval/metrics.js';
import { readCandidates, ruleAurocs } from '../../models/eval/score-rules.js';

const FIXTURE_MODELS = join(import.meta.dirname, '..', 'fixtures', 'models');
const SHIPPED_MODELS = join(import.meta.dirname, '..', '..', 'models');

describe('loupe eval', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loupe-eval-'));
    await generateDataset({ out: join(dir, 'data'), count: 6, seed: 31, size: 512, workers: 1, progress: false, domain: {} });
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every metric key of the contract, with null where a metric has no positives or negatives', async () => {
    const out = join(dir, 'eval.json');
    const result = await runEval({ data: join(dir, 'data'), out, modelsDir: FIXTURE_MODELS, profile: 'ring' });
    const written = EvalResultSchema.parse(JSON.parse(readFileSync(out, 'utf8')));
    expect(written).toEqual(result);
    expect(written.images).toBe(6);
    expect(written.model.id).toBe('loupe-fixture');
    for (const family of ['porosity', 'stone_spacing', 'polish'] as const) {
      const m = written.families[family];
      expect(m.positives + m.negatives).toBe(6);
      for (const key of ['auroc', 'ap', 'precision', 'recall', 'f1'] as const) {
        if (m.positives === 0 || m.negatives === 0) expect(m.auroc).toBeNull();
        expect(m).toHaveProperty(key);
      }
    }
    expect(written.pixel.porosity.images).toBe(6);
    expect(Object.keys(written.stones)).toEqual(expect.arrayContaining(['precision', 'recall', 'f1', 'gapMaeMm']));
    expect(written.timing.msPerImage).toBeGreaterThan(0);
  }, 120_000);

  it('counts false alarms on clean pieces among the photos judged, apart from those sent back for a retake', async () => {
    const { result, images } = await runEvalWithImages({ data: join(dir, 'data'), out: join(dir, 'clean.json'), modelsDir: FIXTURE_MODELS, profile: 'ring' });
    const clean = images.filter((o) => !o.entry.labels.porosity && !o.entry.labels.stone_spacing && !o.entry.labels.polish);
    const judged = clean.filter((o) => o.report.verdict !== 'retake');
    expect(clean.length).toBeGreaterThan(0);
    expect(result.cleanFalseFlagRate).toBe(clean.filter((o) => o.report.verdict !== 'pass').length / clean.length);
    expect(result.cleanDefectFlagRate).toBe(judged.length ? judged.filter((o) => o.report.verdict !== 'pass').length / judged.length : null);
    expect(result.cleanFlaggedBy!.retake).toBe(clean.length - judged.length);
  }, 120_000);

  it('counts the photos whose piece the mask found, and the others by why it fell back to the whole frame', async () => {
    const { result, images } = await runEvalWithImages({ data: join(dir, 'data'), out: join(dir, 'mask.json'), modelsDir: FIXTURE_MODELS, profile: 'ring' });
    const found = images.filter((o) => o.report.pieceMask?.source === 'piece').length;
    const why: Record<string, number> = {};
    for (const o of images) if (o.report.pieceMask?.source === 'frame') why[o.report.pieceMask.fallback!] = (why[o.report.pieceMask.fallback!] ?? 0) + 1;
    expect(result.pieceMask).toEqual({ found, fallbacks: why });
    expect(found).toBeGreaterThan(0);
    expect(found + Object.values(why).reduce((a, b) => a + b, 0)).toBe(images.length);
  }, 120_000);

  it("ranks each polish kind's score on the photos holding it against the polish-clean photos only", async () => {
    const { result, images } = await runEvalWithImages({ data: join(dir, 'data'), out: join(dir, 'eval-kinds.json'), modelsDir: FIXTURE_MODELS, profile: 'ring' });
    const clean = images.filter((o) => !o.entry.labels.polish);
    for (const kind of ['scratch', 'haze', 'tool_mark', 'orange_peel']) {
      // A photo with only other polish kinds is neither: it says nothing about this kind's false alarms.
      const holding = images.filter((o) => o.entry.defects.some((d) => d.kind === kind));
      const scores = [...holding, ...clean].map((o) => o.report.families.polish.kindScores[kind] ?? 0);
      expect(result.polishKinds![kind]).toEqual({
        auroc: auroc(scores, [...holding.map(() => true), ...clean.map(() => false)]),
        positives: holding.length,
        negatives: clean.length,
      });
    }
  }, 120_000);

  it('bins polish photos by how visible their defects are, each photo once per family and once per kind it holds', async () => {
    const { result, images } = await runEvalWithImages({ data: join(dir, 'data'), out: join(dir, 'eval-vis.json'), modelsDir: FIXTURE_MODELS, profile: 'ring', visibility: true });
    const vis = result.polishVisibility!;
    const polish = images.filter((o) => o.entry.labels.polish);
    expect(polish.length).toBeGreaterThan(0);
    expect(vis.family.map((b) => b.bin)).toEqual(['<4', '4-10', '10-25', '>=25']);
    expect(vis.family.reduce((n, b) => n + b.images, 0)).toBe(polish.length);
    expect(vis.family.reduce((n, b) => n + b.caught, 0)).toBe(polish.filter((o) => o.flagged.polish).length);
    for (const kind of ['scratch', 'haze', 'tool_mark', 'orange_peel']) {
      const holding = images.filter((o) => o.entry.defects.some((d) => d.kind === kind));
      expect(vis.kinds[kind]!.reduce((n, b) => n + b.images, 0)).toBe(holding.length);
    }
    // Without the flag nothing is re-rendered and the key stays out.
    expect(JSON.parse(readFileSync(join(dir, 'eval-kinds.json'), 'utf8')).polishVisibility).toBeUndefined();
  }, 120_000);

  it("writes each photo's verifier candidates, whose strongest is the report's kind score, for offline pooling rules", async () => {
    const file = join(dir, 'candidates.jsonl');
    // A model with a verifier (the fixture has none): the version the pipeline tests pin.
    const { images } = await runEvalWithImages({ data: join(dir, 'data'), out: join(dir, 'eval-cand.json'), modelsDir: SHIPPED_MODELS, model: 'loupe-seg@1.4.0', profile: 'ring', candidatesOut: file });
    const lines = await readCandidates(file);
    expect(lines.map((l) => l.file)).toEqual(images.map((o) => o.entry.file));
    let scored = 0;
    for (const [i, line] of lines.entries()) {
      const report = images[i]!.report;
      for (const [kind, cs] of Object.entries(line.candidates)) {
        const score = kind === 'porosity' ? report.families.porosity.score : report.families.polish.kindScores[kind]!;
        expect(Math.max(0, ...cs.map((c) => c[2]))).toBeCloseTo(score, 3);
        scored++;
      }
    }
    expect(scored).toBeGreaterThan(0);
    // The pipeline's rule, pooled offline, ranks each kind exactly as the eval's own per-kind AUROC.
    const result = JSON.parse(readFileSync(join(dir, 'eval-cand.json'), 'utf8'));
    const max = ruleAurocs(lines).find((r) => r.rule === 'max')!;
    let ranked = 0;
    for (const kind of ['scratch', 'haze', 'tool_mark', 'orange_peel']) {
      const want = result.polishKinds[kind].auroc as number | null;
      if (want === null) expect(max.auroc[kind]).toBeNull();
      else {
        expect(max.auroc[kind]).toBeCloseTo(want, 2);
        ranked++;
      }
    }
    expect(ranked).toBeGreaterThan(0);
  }, 120_000);
});
