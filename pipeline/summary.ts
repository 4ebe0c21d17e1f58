import type { InspectionReport } from './report.schema.js';
import { withGateFlags } from './score.js';
import { unlocatedFlags } from './unlocated.js';

/**
 * The human-readable summary `loupe inspect` prints: verdict first and loud, then what was found, in mm. Counts and
 * lists are of the findings that counted; those below their gate get one line per family saying how many of which.
 */

const BANNER: Record<InspectionReport['verdict'], string> = {
  pass: 'PASS',
  review: 'REVIEW',
  fail: 'FAIL',
  retake: 'RETAKE PHOTO',
};

const mm = (v: number, digits = 3) => `${v.toFixed(digits)} mm`;
const box = (b: readonly number[]) => `[${b.map((v) => Math.round(v)).join(', ')}]`;
const point = (at: { cx: number; cy: number }) => `(${Math.round(at.cx)}, ${Math.round(at.cy)}) px`;

/** `  (not counted, below gate: 2 haze, 1 scratch)`, or nothing. */
function belowGateLine(findings: ReadonlyArray<{ kind: string; belowGate?: boolean }>): string[] {
  const byKind = new Map<string, number>();
  for (const f of findings) if (f.belowGate) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
  if (byKind.size === 0) return [];
  return [`    (not counted, below gate: ${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')})`];
}

export function formatSummary(file: string, stored: InspectionReport): string {
  const r = withGateFlags(stored);
  const lines: string[] = [];
  lines.push(`${'='.repeat(8)} ${BANNER[r.verdict]} ${'='.repeat(8)}  ${file}`);
  lines.push(
    `  photo ${r.photo.width}x${r.photo.height}, ${r.photo.mmPerPx} mm/px (${r.photo.mmPerPxSource}); profile ${r.profile.name}@${r.profile.version}; ` +
      `models ${r.models.map((m) => `${m.id}@${m.version}`).join(', ')}`,
  );
  if (!r.quality.ok) for (const q of r.quality.reasons) lines.push(`  retake: ${q.message}`);

  const p = r.families.porosity;
  const pores = p.findings.filter((f) => !f.belowGate);
  lines.push(`  porosity       ${p.verdict.toUpperCase().padEnd(6)} score ${p.score.toFixed(2)}  ${pores.length} pore(s)`);
  for (const f of pores.slice(0, 20)) {
    lines.push(`    ${f.kind.padEnd(13)} ⌀ ${mm(f.diameterMm)}  area ${f.areaMm2.toFixed(4)} mm²  conf ${f.confidence.toFixed(2)}  at ${box(f.bbox)}${f.group ? `  cluster #${f.group}` : ''}`);
  }
  if (pores.length > 20) lines.push(`    ... ${pores.length - 20} more`);
  const unlocated = unlocatedFlags(r);
  for (const u of unlocated) if (u.family === 'porosity') lines.push(`    nothing outlined; the score was read at ${point(u)}`);
  lines.push(...belowGateLine(p.findings));

  const s = r.families.stone_spacing;
  const expected = s.expectedCount === null ? '' : ` of ${s.expectedCount} expected`;
  lines.push(`  stone spacing  ${s.verdict.toUpperCase().padEnd(6)} score ${s.score.toFixed(2)}  ${s.found} stone(s)${expected}`);
  if (s.gapsMm.length > 0) {
    lines.push(`    gaps ${s.gapsMm.map((g) => g.toFixed(3)).join(' | ')} mm`);
    if (s.meanGapMm !== null) {
      lines.push(
        `    mean ${mm(s.meanGapMm)}  spread ${mm(s.spreadMm ?? 0)}  nominal ${mm(s.nominalGapMm ?? 0)} (${s.nominalGapSource})  worst deviation ${mm(s.worstDeviationMm ?? 0)}`,
      );
    }
  }
  for (const f of s.findings) if (!f.belowGate) lines.push(`    ${f.kind.padEnd(16)} ${f.message}`);
  lines.push(...belowGateLine(s.findings));

  const pol = r.families.polish;
  const marks = pol.findings.filter((f) => !f.belowGate);
  lines.push(`  polish         ${pol.verdict.toUpperCase().padEnd(6)} score ${pol.score.toFixed(2)}  ${marks.length} finding(s)`);
  for (const f of marks.slice(0, 20)) {
    const size = f.lengthMm !== undefined ? `length ${mm(f.lengthMm, 2)}` : `area ${(f.areaMm2 ?? 0).toFixed(3)} mm²`;
    lines.push(`    ${f.kind.padEnd(12)} ${size}  severity ${f.severity.toFixed(2)}  conf ${f.confidence.toFixed(2)}  at ${box(f.bbox)}`);
  }
  if (marks.length > 20) lines.push(`    ... ${marks.length - 20} more`);
  for (const u of unlocated) {
    if (u.family === 'polish') lines.push(`    ${u.kind.padEnd(12)} score ${u.score.toFixed(2)}, nothing outlined; read at ${point(u)}`);
  }
  lines.push(...belowGateLine(pol.findings));
  const t = r.timingsMs;
  lines.push(`  time ${t.total.toFixed(0)} ms (decode ${t.decode.toFixed(0)}, quality ${t.quality.toFixed(0)}, preprocess ${t.preprocess.toFixed(0)}, inference ${t.inference.toFixed(0)}, postprocess ${t.postprocess.toFixed(0)})`);
  return lines.join('\n');
}
