import type { EvalResult } from './eval-result.schema.js';

const f = (v: number | null, digits = 3) => (v === null ? '—' : v.toFixed(digits));

/** `reason n, reason n`, the most frequent first (ties in the record's order). */
export function countsText(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts).sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k} ${n}`).join(', ');
}

/** The human summary printed after `loupe eval`; the JSON file holds everything. */
export function formatEvalSummary(r: EvalResult): string {
  const lines = [
    `${r.images} images · model ${r.model.id}@${r.model.version} · profile ${r.profile.name}@${r.profile.version}`,
    '',
    'family          AUROC    AP       prec     recall   F1       acc      pos  neg',
  ];
  for (const [name, m] of Object.entries(r.families)) {
    lines.push(
      `${name.padEnd(15)} ${f(m.auroc).padEnd(8)} ${f(m.ap).padEnd(8)} ${f(m.precision).padEnd(8)} ${f(m.recall).padEnd(8)} ${f(m.f1).padEnd(8)} ${f(m.accuracy).padEnd(8)} ${String(m.positives).padStart(4)} ${String(m.negatives).padStart(4)}`,
    );
  }
  lines.push('');
  lines.push(`pixel porosity AUROC ${f(r.pixel.porosity.auroc)} IoU ${f(r.pixel.porosity.iou)} · polish AUROC ${f(r.pixel.polish.auroc)} IoU ${f(r.pixel.polish.iou)}`);
  lines.push(`stones P ${f(r.stones.precision)} R ${f(r.stones.recall)} F1 ${f(r.stones.f1)} · gap MAE ${f(r.stones.gapMaeMm, 4)} mm over ${r.stones.gapPairs} gaps${r.stones.gapPairsMatched !== undefined ? ` (of ${r.stones.gapPairsMatched} whose stones were both found)` : ''}`);
  const by = r.cleanFlaggedBy;
  const byText = by && by.images > 0 ? ` (of ${by.images}: porosity ${by.porosity}, spacing ${by.stone_spacing}, polish ${by.polish}, retake ${by.retake})` : '';
  const reasons = countsText(r.retakeReasons ?? {});
  const defect = r.cleanDefectFlagRate !== undefined ? ` · for a defect ${f(r.cleanDefectFlagRate)} of those not sent to retake` : '';
  lines.push(`clean pieces flagged ${f(r.cleanFalseFlagRate)}${byText}${defect} · retakes ${r.retakes}${reasons ? ` (${reasons})` : ''} · ${r.timing.msPerImage.toFixed(0)} ms/image${r.timing.msMax !== undefined ? ` (median ${r.timing.msMedian!.toFixed(0)}, p90 ${r.timing.msP90!.toFixed(0)}, slowest ${r.timing.msMax.toFixed(0)})` : ''}`);
  if (r.pieceMask) {
    const fallbacks = countsText(r.pieceMask.fallbacks);
    lines.push(`piece mask found on ${r.pieceMask.found} of ${r.images} photos${fallbacks ? ` · whole frame: ${fallbacks}` : ''}`);
  }
  lines.push(`pore recall by size: ${r.byPoreSizeMm.map((b) => `${b.bin} mm ${f(b.recall, 2)} (${b.detected}/${b.defects})`).join(' · ')}`);
  if (r.polishKinds) {
    const kinds = Object.entries(r.polishKinds).map(([k, m]) => `${k} ${f(m.auroc)} (${m.positives}/${m.negatives})`);
    lines.push(`polish AUROC by kind (photos with the kind / polish-clean photos): ${kinds.join(' · ')}`);
  }
  if (r.polishVisibility) {
    const row = (bins: Array<{ bin: string; images: number; auroc: number | null; caught: number }>) =>
      bins.map((b) => `${b.bin} ${f(b.auroc)} (${b.caught}/${b.images})`).join(' · ');
    lines.push(`polish by visibility (levels; AUROC, caught/photos): family ${row(r.polishVisibility.family)}`);
    for (const [k, bins] of Object.entries(r.polishVisibility.kinds)) lines.push(`  ${k.padEnd(12)} ${row(bins)}`);
  }
  lines.push(`recall by kind: ${Object.values(r.byKind).map((b) => `${b.bin} ${f(b.recall, 2)} (${b.detected}/${b.defects})`).join(' · ')}`);
  return lines.join('\n');
}

/** The line printed after `loupe eval --failures DIR`. */
export function formatGallerySummary(g: { indexPath: string; files: string[]; cases: Array<{ section: { slug: string } }> }): string {
  const sections = new Set(g.cases.map((c) => c.section.slug)).size;
  return `failure gallery: ${g.files.length} images in ${sections} sections · ${g.indexPath}`;
}
