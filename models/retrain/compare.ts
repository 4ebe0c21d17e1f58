import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { EvalResult, FamilyMetrics } from '../eval/eval-result.schema.js';
import { writeJsonAtomic } from './model-ref.js';

/**
 * Old versus new on the same validation images, both through the TypeScript pipeline (`runEval`), so the figures
 * are the ones a station would see: image-level, flagged = any verdict other than `pass`. Written to the new
 * version's `comparison.json`, into its `model.json` under `metrics.comparison` and into its model card.
 */

const metric = z.number().nullable();
const SideSchema = z.object({ accuracy: metric, precision: metric, recall: metric, auroc: metric, f1: metric });
export const ComparisonSchema = z.object({
  schemaVersion: z.literal(1),
  validation: z.object({ data: z.string(), images: z.number().int(), profile: z.object({ name: z.string(), version: z.string() }) }),
  base: z.object({ id: z.string(), version: z.string(), sha256: z.string() }),
  new: z.object({ id: z.string(), version: z.string(), sha256: z.string() }),
  /** Families with at least one positive validation image; the others have no recall or AUROC to compare. */
  families: z.record(z.string(), z.object({ positives: z.number().int(), negatives: z.number().int(), base: SideSchema, new: SideSchema })),
  retakes: z.object({ base: z.number().int(), new: z.number().int() }),
  createdAt: z.string(),
});
export type Comparison = z.infer<typeof ComparisonSchema>;

const side = (m: FamilyMetrics) => ({ accuracy: m.accuracy, precision: m.precision, recall: m.recall, auroc: m.auroc, f1: m.f1 });

export function compareEvals(base: EvalResult, next: EvalResult): Comparison {
  const families: Comparison['families'] = {};
  for (const [name, b] of Object.entries(base.families)) {
    const n = next.families[name as keyof EvalResult['families']];
    if (b.positives === 0) continue;
    families[name] = { positives: b.positives, negatives: b.negatives, base: side(b), new: side(n) };
  }
  return ComparisonSchema.parse({
    schemaVersion: 1,
    validation: { data: next.data, images: next.images, profile: next.profile },
    base: base.model,
    new: next.model,
    families,
    retakes: { base: base.retakes, new: next.retakes },
    createdAt: new Date().toISOString(),
  });
}

const f3 = (v: number | null) => (v === null ? '—' : v.toFixed(3));
const delta = (a: number | null, b: number | null) => (a === null || b === null ? '' : `${b - a >= 0 ? '+' : ''}${(b - a).toFixed(3)}`);
const METRICS = ['accuracy', 'precision', 'recall', 'auroc'] as const;

/** The old-vs-new table printed after `loupe train`. */
export function formatComparison(c: Comparison): string {
  const head = `${c.base.id}: ${c.base.version} (base) vs ${c.new.version} (new) on ${c.validation.images} validation images (${c.validation.data}), profile ${c.validation.profile.name}`;
  const rows = [head, '', `${'family'.padEnd(24)}${'metric'.padEnd(11)}${'base'.padStart(8)}${'new'.padStart(8)}${'Δ'.padStart(9)}`];
  for (const [name, fam] of Object.entries(c.families)) {
    for (const [i, m] of METRICS.entries()) {
      const label = i === 0 ? `${name} (${fam.positives}+/${fam.negatives}-)` : '';
      rows.push(`${label.padEnd(24)}${m.padEnd(11)}${f3(fam.base[m]).padStart(8)}${f3(fam.new[m]).padStart(8)}${delta(fam.base[m], fam.new[m]).padStart(9)}`);
    }
  }
  if (Object.keys(c.families).length === 0) rows.push('(no family has a positive validation image: nothing to compare)');
  rows.push('', `photos answered "retake" by the quality gate: base ${c.retakes.base}, new ${c.retakes.new}`);
  return rows.join('\n');
}

function cardSection(c: Comparison, outOfFold: boolean): string {
  const calibration = outOfFold
    ? ['image-level, flagged = any verdict other than `pass`. The new version\'s image gates were set on out-of-fold scores of', 'its training photos, not on these: for the gates, these photos are unseen (its pixel operating points were calibrated on them).']
    : ['image-level, flagged = any verdict other than `pass`. The new version\'s operating points were calibrated on these', 'same photos, the base\'s on its own validation data: the test split, evaluated once, is the unbiased figure.'];
  const lines = [
    '',
    `## Fine-tuned from ${c.base.id} ${c.base.version}: old vs new on the same validation images`,
    '',
    `Written by \`loupe train\` on ${c.createdAt}. Both versions run through the TypeScript pipeline (\`runEval\`) on`,
    `${c.validation.images} validation photos (\`${c.validation.data}\`), profile \`${c.validation.profile.name}\`@${c.validation.profile.version};`,
    ...calibration,
    '',
    '| family | metric | base | new |',
    '|---|---|---|---|',
  ];
  for (const [name, fam] of Object.entries(c.families)) {
    for (const m of METRICS) lines.push(`| ${name} (${fam.positives}+/${fam.negatives}−) | ${m} | ${f3(fam.base[m])} | ${f3(fam.new[m])} |`);
  }
  lines.push('', `Quality-gate retakes: base ${c.retakes.base}, new ${c.retakes.new}. Base sha256 \`${c.base.sha256}\`.`, '');
  return lines.join('\n');
}

/**
 * Records the comparison beside the new version. `model.json` stays valid for the registry: its sha256 is the ONNX
 * file's, and `metrics` is an open record.
 */
export async function recordComparison(versionDir: string, c: Comparison, retrain: Record<string, unknown>): Promise<void> {
  await writeJsonAtomic(join(versionDir, 'comparison.json'), c);
  const jsonPath = join(versionDir, 'model.json');
  const manifest = JSON.parse(await readFile(jsonPath, 'utf8')) as { metrics?: Record<string, unknown>; training?: Record<string, unknown> };
  manifest.metrics = { ...(manifest.metrics ?? {}), comparison: c };
  // How this version came to be (base, original input folders, hold-out rule), beside train.py's own record.
  manifest.training = { ...(manifest.training ?? {}), retrain };
  await writeJsonAtomic(jsonPath, manifest);
  const cardPath = join(versionDir, 'MODEL_CARD.md');
  const card = await readFile(cardPath, 'utf8').catch(() => '');
  await writeFile(cardPath, card.replace(/\n## Fine-tuned from [\s\S]*$/, '') + cardSection(c, Boolean(retrain.folds)));
}
