import type { Defect } from '../../datasets/manifest.schema.js';
import { POLISH_KINDS, type PolishKind } from '../../pipeline/index.js';
import { polishLimits, polishSize } from '../../pipeline/postprocess/polish.js';
import { boxesOverlap, FAMILY_KEYS, PORE_BINS, type FamilyKey, type ImageOutcome } from './run-eval.js';

/**
 * Which photos go into the failure gallery, and the one line that says why. Pure: from eval's per-image outcomes to
 * cases; drawing and the index live in `failures-gallery.ts`.
 *
 * Sections, each at most `perKind` photos:
 *   - `<family>-miss`: positives for the family with the lowest family score;
 *   - `<family>-false-alarm`: negatives for the family with the highest family score;
 *   - `<polish kind>-miss`: photos whose largest true defect of the kind no finding of that kind overlaps, largest first;
 *   - `pore-<bin>-miss`: the largest true pores of a size bin no pore region overlaps (eval's rule), one per photo.
 * A lowest-scoring positive can still have been caught (and a highest-scoring negative not flagged) when the model does
 * well; the line then says so rather than call it a miss.
 */

export interface FailureSection {
  slug: string;
  title: string;
}

const poreSlug = (bin: string) => `pore-${bin.replace('<', 'lt').replace('>', 'gt')}-miss`;

/** Every section in gallery order, whether or not a run fills it. */
export function failureSections(): FailureSection[] {
  return [
    ...FAMILY_KEYS.flatMap((f) => [
      { slug: `${f}-miss`, title: `${f} miss` },
      { slug: `${f}-false-alarm`, title: `${f} false alarm` },
    ]),
    ...POLISH_KINDS.map((k) => ({ slug: `${k}-miss`, title: `${k} miss` })),
    ...PORE_BINS.map((b) => ({ slug: poreSlug(b.bin), title: `pore ${b.bin} mm miss` })),
  ];
}

export interface FailureCase {
  section: FailureSection;
  /** 1-based within the section. */
  rank: number;
  image: ImageOutcome;
  /** The family the section judges (its verdict is the one that mattered). */
  family: FamilyKey;
  /** What failed, with the score and the threshold that decided it. */
  what: string;
  /** The score quoted and the gate it had to reach (null: no score gate, spacing is judged in mm). For polish it is one
   * kind's score (`scoreOf`): kinds have their own gates, so the family score (their max) has no single threshold. */
  score: number;
  scoreOf: string;
  threshold: number | null;
  /** The true defect the case is about (kind and pore-size sections). */
  defect?: Defect;
}

/** Millimetres to the precision that tells sizes near the tolerances and bin edges apart (0.079 vs 0.08 mm). */
export const mm = (v: number) => v.toFixed(v < 0.2 ? 3 : 2);

/** Scores like 0.0009 (a calibrated scratch gate) must not print as 0.00. */
export function fmtScore(v: number): string {
  return v === 0 || Math.abs(v) >= 0.01 ? v.toFixed(2) : v.toPrecision(2);
}

export function sizeText(d: Defect): string {
  if (d.sizeMm !== null) return `${mm(d.sizeMm)} mm`;
  if (d.sizePx !== undefined) return `${d.sizePx.toFixed(0)} px`;
  return 'size unknown';
}

/** Sort key for "largest": mm where the set has a scale, else pixels. */
const sizeKey = (d: Defect) => d.sizeMm ?? (d.sizePx !== undefined ? d.sizePx : -1);

const vs = (score: number, threshold: number) => `${fmtScore(score)} ${score < threshold ? '<' : '>='} threshold ${fmtScore(threshold)}`;
const article = (word: string) => (/^[aeiou]/i.test(word) ? 'an' : 'a');
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function retakeNote(im: ImageOutcome): string {
  return im.report.verdict === 'retake' ? `photo sent to retake (${im.report.quality.reasons.map((r) => r.code).join(', ') || 'quality gate'})` : '';
}

/** The true defects of a family, by kind: `cluster x4 (largest 0.23 mm), pinhole 0.09 mm`. */
export function truthSummary(im: ImageOutcome, family: FamilyKey): string {
  const defects = im.entry.defects.filter((d) => d.family === family);
  if (defects.length === 0) return 'image-level label, no defect boxes';
  const byKind = new Map<string, Defect[]>();
  for (const d of defects) byKind.set(d.kind, [...(byKind.get(d.kind) ?? []), d]);
  return [...byKind.entries()]
    .map(([kind, ds]) => {
      const largest = ds.reduce((a, b) => (sizeKey(b) > sizeKey(a) ? b : a));
      return ds.length > 1 ? `${kind} x${ds.length} (largest ${sizeText(largest)})` : `${kind} ${sizeText(largest)}`;
    })
    .join(', ');
}

function polishKindNotFlagged(im: ImageOutcome, kind: PolishKind): string {
  const polish = im.report.families.polish;
  const score = polish.kindScores[kind] ?? 0;
  const gate = im.polishGates[kind];
  if (score < gate) return `${kind} score ${vs(score, gate)}`;
  const findings = polish.findings.filter((f) => f.kind === kind);
  const limits = polishLimits(kind, im.profile.polish);
  const unit = polishUnit(kind);
  if (findings.length === 0) return `${kind} score ${vs(score, gate)} but no ${kind} region`;
  const largest = Math.max(...findings.map(polishSize));
  return `${kind} score ${vs(score, gate)} but largest ${kind} found ${mm(largest)} ${unit} < review ${limits.review} ${unit}`;
}

/** Why a family stayed `pass`. */
export function whyNotFlagged(im: ImageOutcome, family: FamilyKey, kinds: readonly PolishKind[] = POLISH_KINDS): string {
  const fam = im.report.families;
  if (family === 'porosity') {
    const { score, gate, findings } = fam.porosity;
    if (score < gate.scoreThreshold) return `porosity score ${vs(score, gate.scoreThreshold)}`;
    if (findings.length === 0) return `porosity score ${vs(score, gate.scoreThreshold)} but no pore region`;
    const largest = Math.max(...findings.map((f) => f.diameterMm));
    return `porosity score ${vs(score, gate.scoreThreshold)} but largest pore found ${mm(largest)} mm < review ${im.profile.porosity.reviewDiameterMm} mm`;
  }
  if (family === 'polish') return kinds.map((k) => polishKindNotFlagged(im, k)).join('; ');
  const s = fam.stone_spacing;
  const worst = s.worstDeviationMm === null ? 'no gap measured' : `worst gap deviation ${mm(s.worstDeviationMm)} mm < review ${im.profile.stone_spacing.reviewDeviationMm} mm`;
  return `spacing score ${fmtScore(s.score)}, ${s.found}/${s.expectedCount ?? '?'} stones found, ${worst}`;
}

interface PolishTrigger {
  kind: PolishKind;
  /** Null: the kind reached its gate with no region at all (judged `review` by that rule). */
  size: number | null;
  review: number;
}

/**
 * What made a polish verdict: the kind whose region is furthest past its review tolerance (score at its gate), else a
 * kind at its gate with no region at all.
 */
function polishTrigger(im: ImageOutcome): PolishTrigger | null {
  const polish = im.report.families.polish;
  let best: (PolishTrigger & { size: number }) | null = null;
  let unseen: PolishTrigger | null = null;
  for (const kind of POLISH_KINDS) {
    if ((polish.kindScores[kind] ?? 0) < im.polishGates[kind]) continue;
    const review = polishLimits(kind, im.profile.polish).review;
    const findings = polish.findings.filter((x) => x.kind === kind);
    if (findings.length === 0) unseen ??= { kind, size: null, review };
    for (const f of findings) {
      const size = polishSize(f);
      if (size >= review && (!best || size / review > best.size / best.review)) best = { kind, size, review };
    }
  }
  return best ?? unseen;
}

const polishUnit = (k: PolishKind) => (k === 'scratch' || k === 'tool_mark' ? 'mm' : 'mm2');

/** What made a family's verdict other than `pass`. */
export function whyFlagged(im: ImageOutcome, family: FamilyKey): string {
  const fam = im.report.families;
  const verdict = fam[family].verdict;
  const retake = retakeNote(im);
  if (verdict === 'pass') return retake || 'verdict pass';
  let why: string;
  if (family === 'porosity') {
    const { score, gate, findings } = fam.porosity;
    const largest = findings.reduce((m, f) => Math.max(m, f.diameterMm), 0);
    why =
      findings.length > 0
        ? `porosity score ${vs(score, gate.scoreThreshold)}, ${plural(findings.length, 'pore region')}, largest ${mm(largest)} mm`
        : `porosity score ${vs(score, gate.scoreThreshold)} with no pore region`;
  } else if (family === 'polish') {
    const best = polishTrigger(im);
    const kindScore = best ? `${best.kind} score ${vs(fam.polish.kindScores[best.kind] ?? 0, im.polishGates[best.kind])}` : '';
    why = !best
      ? `polish score ${fmtScore(fam.polish.score)}`
      : best.size === null
        ? `${kindScore} with no ${best.kind} region`
        : `${kindScore}, ${best.kind} ${mm(best.size)} ${polishUnit(best.kind)} >= review ${best.review} ${polishUnit(best.kind)}`;
  } else {
    const first = fam.stone_spacing.findings[0];
    why = first ? first.message : `spacing score ${fmtScore(fam.stone_spacing.score)}`;
    if (fam.stone_spacing.findings.length > 1) why += ` (+${fam.stone_spacing.findings.length - 1} more)`;
  }
  return `${why}, verdict ${verdict}${retake ? `; ${retake}` : ''}`;
}

/** The score a family case quotes, and its gate; for polish, `kind`'s. */
function quoted(im: ImageOutcome, family: FamilyKey, kind: PolishKind | undefined): Pick<FailureCase, 'score' | 'scoreOf' | 'threshold'> {
  const fam = im.report.families;
  if (family === 'porosity') return { score: fam.porosity.score, scoreOf: 'porosity', threshold: fam.porosity.gate.scoreThreshold };
  if (family === 'polish') {
    return kind
      ? { score: fam.polish.kindScores[kind] ?? 0, scoreOf: kind, threshold: im.polishGates[kind] }
      : { score: fam.polish.score, scoreOf: 'polish', threshold: fam.polish.gate.scoreThreshold };
  }
  const g = fam.stone_spacing.gate;
  return { score: fam.stone_spacing.score, scoreOf: 'spacing', threshold: g.source === 'none' ? null : g.scoreThreshold };
}

/** The polish kind of a photo's largest true polish defect (the gate its miss line quotes). */
function mainPolishKind(im: ImageOutcome): PolishKind | undefined {
  const polish = im.entry.defects.filter((d) => d.family === 'polish');
  if (polish.length === 0) return undefined;
  const largest = polish.reduce((a, b) => (sizeKey(b) > sizeKey(a) ? b : a));
  return (POLISH_KINDS as readonly string[]).includes(largest.kind) ? (largest.kind as PolishKind) : undefined;
}

function trueKinds(im: ImageOutcome): PolishKind[] {
  const kinds = new Set(im.entry.defects.filter((d) => d.family === 'polish').map((d) => d.kind));
  return POLISH_KINDS.filter((k) => kinds.has(k));
}

/** The kind whose score is the family score (their max). */
function topPolishKind(im: ImageOutcome): PolishKind {
  const s = im.report.families.polish.kindScores;
  return POLISH_KINDS.reduce((a, b) => ((s[b] ?? 0) > (s[a] ?? 0) ? b : a));
}

const byFile = (a: ImageOutcome, b: ImageOutcome) => (a.entry.file < b.entry.file ? -1 : a.entry.file > b.entry.file ? 1 : 0);

export function selectFailures(images: readonly ImageOutcome[], perKind: number): FailureCase[] {
  const cases: FailureCase[] = [];
  const sections = new Map(failureSections().map((s) => [s.slug, s]));
  const push = (slug: string, picked: Array<Omit<FailureCase, 'section' | 'rank'>>) =>
    picked.slice(0, perKind).forEach((c, i) => cases.push({ section: sections.get(slug)!, rank: i + 1, ...c }));

  for (const family of FAMILY_KEYS) {
    const score = (im: ImageOutcome) => im.report.families[family].score;
    const positives = images.filter((im) => im.entry.labels[family]).sort((a, b) => score(a) - score(b) || byFile(a, b));
    push(
      `${family}-miss`,
      positives.map((im) => {
        const kind = family === 'polish' ? mainPolishKind(im) : undefined;
        const truth = truthSummary(im, family);
        const what = im.flagged[family]
          ? `lowest-scoring ${family} positive, caught anyway (${truth}): ${whyFlagged(im, family)}`
          : `missed ${family} (${truth}): ${whyNotFlagged(im, family, family === 'polish' ? trueKinds(im) : undefined)}`;
        return { image: im, family, what, ...quoted(im, family, kind) };
      }),
    );
    const negatives = images.filter((im) => !im.entry.labels[family]).sort((a, b) => score(b) - score(a) || byFile(a, b));
    push(
      `${family}-false-alarm`,
      negatives.map((im) => {
        const kind = family === 'polish' ? (polishTrigger(im)?.kind ?? topPolishKind(im)) : undefined;
        const what = im.flagged[family]
          ? `false alarm: ${family} flagged on a photo clean for it: ${whyFlagged(im, family)}`
          : `highest-scoring photo clean for ${family}, not flagged: ${whyNotFlagged(im, family, kind ? [kind] : undefined)}`;
        return { image: im, family, what, ...quoted(im, family, kind) };
      }),
    );
  }

  for (const kind of POLISH_KINDS) {
    const picked = images
      .map((im) => {
        const missed = im.defects.filter((o) => o.defect.kind === kind && !o.foundByKind);
        if (missed.length === 0) return null;
        const largest = missed.reduce((a, b) => (sizeKey(b.defect) > sizeKey(a.defect) ? b : a));
        return { im, ...largest };
      })
      .filter((x) => x !== null)
      .sort((a, b) => sizeKey(b.defect) - sizeKey(a.defect) || byFile(a.im, b.im));
    push(
      `${kind}-miss`,
      picked.map(({ im, defect, found }) => {
        const polish = im.report.families.polish;
        const other = found
          ? polish.findings.find((f) => f.kind !== kind && boxesOverlap(f.bbox, defect.bbox, 1))
          : undefined;
        const elsewhere = polish.findings.filter((f) => f.kind === kind).length;
        const what =
          `missed ${kind} ${sizeText(defect)}: no ${kind} region overlaps it` +
          (other ? ` (${article(other.kind)} ${other.kind} region does)` : '') +
          `; ${kind} score ${vs(polish.kindScores[kind] ?? 0, im.polishGates[kind])}` +
          (elsewhere > 0 ? `, ${plural(elsewhere, `${kind} region`)} elsewhere` : `, no ${kind} region in the photo`);
        return { image: im, family: 'polish' as const, what, score: polish.kindScores[kind] ?? 0, scoreOf: kind, threshold: im.polishGates[kind], defect };
      }),
    );
  }

  for (const bin of PORE_BINS) {
    const picked = images
      .map((im) => {
        const missed = im.defects.filter(
          (o) => o.defect.family === 'porosity' && !o.found && o.defect.sizeMm !== null && o.defect.sizeMm >= bin.lo && o.defect.sizeMm < bin.hi,
        );
        if (missed.length === 0) return null;
        return { im, defect: missed.reduce((a, b) => (b.defect.sizeMm! > a.defect.sizeMm! ? b : a)).defect, count: missed.length };
      })
      .filter((x) => x !== null)
      .sort((a, b) => b.defect.sizeMm! - a.defect.sizeMm! || byFile(a.im, b.im));
    push(
      poreSlug(bin.bin),
      picked.map(({ im, defect, count }) => {
        const por = im.report.families.porosity;
        const what =
          `missed ${defect.kind} pore ${sizeText(defect)} (bin ${bin.bin} mm${count > 1 ? `, ${count} missed in this bin here` : ''}): no pore region overlaps it; ` +
          `porosity score ${vs(por.score, por.gate.scoreThreshold)}` +
          (por.findings.length > 0 ? `, ${plural(por.findings.length, 'pore region')} elsewhere` : '');
        return { image: im, family: 'porosity' as const, what, score: por.score, scoreOf: 'porosity', threshold: por.gate.scoreThreshold, defect };
      }),
    );
  }
  return cases;
}
