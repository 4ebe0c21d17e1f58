import type { EvalResult } from './eval-result.schema.js';
import { CONDITIONS, renderInfo } from './failures-conditions.js';
import { FAMILY_KEYS, type FamilyKey, type ImageOutcome } from './run-eval.js';

/**
 * "Where it fails", computed from one eval run: recall and false alarms per family, per defect kind, per pore size,
 * and per photo condition (metal, piece, view, and from synthetic sets' `render` block: background, finish,
 * lighting). Markdown lines for the gallery's index.md, which the model card links to.
 */

/** A condition group is called out when its recall trails the family's overall recall by this much... */
const RECALL_GAP = 0.2;
/** ...or its false-alarm rate exceeds the overall rate by this much, */
const FALSE_ALARM_GAP = 0.15;
/** ...and it holds at least this many photos of the kind counted (fewer is noise). */
const MIN_GROUP = 5;
/** The largest gaps are listed; the tables hold the rest. */
const MAX_CALLOUTS = 6;

interface Tally {
  positives: number;
  caught: number;
  negatives: number;
  falseAlarms: number;
}

const ratio = (k: number, n: number) => (n > 0 ? k / n : null);
const f2 = (v: number | null) => (v === null ? '—' : v.toFixed(2));
const cell = (k: number, n: number) => (n > 0 ? `${k}/${n} (${f2(k / n)})` : '—');
const median = (xs: number[]) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function tally(images: readonly ImageOutcome[], family: FamilyKey): Tally {
  const t: Tally = { positives: 0, caught: 0, negatives: 0, falseAlarms: 0 };
  for (const im of images) {
    if (im.entry.labels[family]) {
      t.positives++;
      if (im.flagged[family]) t.caught++;
    } else {
      t.negatives++;
      if (im.flagged[family]) t.falseAlarms++;
    }
  }
  return t;
}

interface KindRow {
  kind: string;
  family: string;
  defects: number;
  found: number;
  foundByKind: number;
  foundSizes: number[];
  missedSizes: number[];
}

function kindRows(images: readonly ImageOutcome[]): KindRow[] {
  const rows = new Map<string, KindRow>();
  for (const im of images) {
    for (const o of im.defects) {
      const r = rows.get(o.defect.kind) ?? { kind: o.defect.kind, family: o.defect.family, defects: 0, found: 0, foundByKind: 0, foundSizes: [], missedSizes: [] };
      r.defects++;
      if (o.found) r.found++;
      if (o.foundByKind) r.foundByKind++;
      if (o.defect.sizeMm !== null) (o.foundByKind ? r.foundSizes : r.missedSizes).push(o.defect.sizeMm);
      rows.set(o.defect.kind, r);
    }
  }
  const famOrder = (f: string) => FAMILY_KEYS.indexOf(f as FamilyKey);
  return [...rows.values()].sort((a, b) => famOrder(a.family) - famOrder(b.family) || a.kind.localeCompare(b.kind));
}

function conditionGroups(images: readonly ImageOutcome[]): Array<{ name: string; groups: Map<string, ImageOutcome[]> }> {
  const out: Array<{ name: string; groups: Map<string, ImageOutcome[]> }> = [];
  for (const c of CONDITIONS) {
    const groups = new Map<string, ImageOutcome[]>();
    let known = 0;
    for (const im of images) {
      const v = c.of(im.entry, renderInfo(im.entry));
      if (v !== null) known++;
      const key = v ?? 'unknown';
      groups.set(key, [...(groups.get(key) ?? []), im]);
    }
    // Bins keep their own order (low to high), names sort alphabetically; `unknown` goes last.
    const rank = (v: string) => (v === 'unknown' ? Infinity : (c.order?.indexOf(v) ?? -1));
    const sorted = [...groups.entries()].sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
    if (known > 0) out.push({ name: c.name, groups: new Map(sorted) });
  }
  return out;
}

export function whereItFails(result: EvalResult, images: readonly ImageOutcome[]): string[] {
  const lines: string[] = [];
  const overall = Object.fromEntries(FAMILY_KEYS.map((f) => [f, tally(images, f)])) as Record<FamilyKey, Tally>;
  const kinds = kindRows(images);
  const conditions = conditionGroups(images);

  // In short: the sentences a model card can quote.
  lines.push('### In short', '');
  for (const f of FAMILY_KEYS) {
    const t = overall[f];
    lines.push(
      `- **${f}**: caught ${t.caught} of ${t.positives} positive photos (recall ${f2(ratio(t.caught, t.positives))}); ` +
        `flagged ${t.falseAlarms} of ${t.negatives} photos clean for it (false-alarm rate ${f2(ratio(t.falseAlarms, t.negatives))}).`,
    );
  }
  const ranked = kinds.filter((k) => k.defects >= MIN_GROUP).sort((a, b) => a.foundByKind / a.defects - b.foundByKind / b.defects);
  if (ranked.length > 0) {
    lines.push(
      `- Hardest defect kinds (share of true defects a region of the same kind overlaps): ${ranked
        .slice(0, 3)
        .map((k) => `${k.kind} ${f2(k.foundByKind / k.defects)} (${k.foundByKind}/${k.defects})`)
        .join(', ')}; easiest: ${ranked
        .slice(-2)
        .reverse()
        .map((k) => `${k.kind} ${f2(k.foundByKind / k.defects)} (${k.foundByKind}/${k.defects})`)
        .join(', ')}.`,
    );
  }
  const wrongKind = kinds.filter((k) => k.family === 'polish').reduce((s, k) => s + (k.found - k.foundByKind), 0);
  if (wrongKind > 0) lines.push(`- ${wrongKind} true polish defect(s) were found only as another polish kind (the family counts them, the kind does not).`);
  if (result.byPoreSizeMm.some((b) => b.defects > 0)) {
    lines.push(`- Pores by size: ${result.byPoreSizeMm.map((b) => `${b.bin} mm ${cell(b.detected, b.defects)}`).join(', ')}.`);
  }
  const smaller = kinds.filter((k) => k.missedSizes.length >= 3 && k.foundSizes.length >= 3 && median(k.missedSizes)! < median(k.foundSizes)!);
  if (smaller.length > 0) {
    lines.push(
      `- Misses are the smaller ones for ${smaller
        .map((k) => `${k.kind} (median ${median(k.missedSizes)!.toFixed(2)} mm missed vs ${median(k.foundSizes)!.toFixed(2)} mm found)`)
        .join(', ')}.`,
    );
  }
  const callouts: Array<{ gap: number; text: string }> = [];
  for (const { name, groups } of conditions) {
    for (const f of FAMILY_KEYS) {
      const all = overall[f];
      const allRecall = ratio(all.caught, all.positives);
      const allFa = ratio(all.falseAlarms, all.negatives);
      for (const [value, ims] of groups) {
        const t = tally(ims, f);
        const r = ratio(t.caught, t.positives);
        if (r !== null && allRecall !== null && t.positives >= MIN_GROUP && r <= allRecall - RECALL_GAP) {
          callouts.push({ gap: allRecall - r, text: `- ${f} recall on ${name} = ${value}: ${f2(r)} (${t.caught}/${t.positives}) against ${f2(allRecall)} overall.` });
        }
        const fa = ratio(t.falseAlarms, t.negatives);
        if (fa !== null && allFa !== null && t.negatives >= MIN_GROUP && fa >= allFa + FALSE_ALARM_GAP) {
          callouts.push({ gap: fa - allFa, text: `- ${f} false alarms on ${name} = ${value}: ${f2(fa)} (${t.falseAlarms}/${t.negatives}) against ${f2(allFa)} overall.` });
        }
      }
    }
  }
  callouts.sort((a, b) => b.gap - a.gap);
  lines.push(...callouts.slice(0, MAX_CALLOUTS).map((c) => c.text));
  if (callouts.length > MAX_CALLOUTS) lines.push(`- ${callouts.length - MAX_CALLOUTS} smaller gaps of the kind are in the condition tables below.`);
  if (conditions.length > 0 && callouts.length === 0) {
    lines.push(`- No ${conditions.map((c) => c.name).join(', ')} group (of ${MIN_GROUP} or more photos) trails the overall recall by ${RECALL_GAP} or more, or exceeds the false-alarm rate by ${FALSE_ALARM_GAP}.`);
  }
  lines.push(`- ${result.images} photos; ${result.retakes} sent to retake (counted as flagged). Groups under about 10 photos are noisy.`, '');

  lines.push('### Families', '', '| family | positives | caught (recall) | clean photos | false alarms (rate) | AUROC | AP |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const f of FAMILY_KEYS) {
    const t = overall[f];
    const m = result.families[f];
    lines.push(`| ${f} | ${t.positives} | ${cell(t.caught, t.positives)} | ${t.negatives} | ${cell(t.falseAlarms, t.negatives)} | ${f2(m.auroc)} | ${f2(m.ap)} |`);
  }
  lines.push('');

  if (kinds.length > 0) {
    lines.push(
      '### Defect kinds',
      '',
      'A true defect is found when a region of its family overlaps its box (the rule of `byKind` in the metrics JSON); for polish, also when a region of its own kind does. Spacing defects count as found when the spacing verdict is not `pass`.',
      '',
      '| kind | family | true defects | found (family) | found (own kind) | median size found / missed (mm; polish: own kind) |',
      '|---|---|---:|---:|---:|---:|',
    );
    for (const k of kinds) {
      const sizes = `${f2(median(k.foundSizes))} / ${f2(median(k.missedSizes))}`;
      lines.push(`| ${k.kind} | ${k.family} | ${k.defects} | ${cell(k.found, k.defects)} | ${k.family === 'polish' ? cell(k.foundByKind, k.defects) : '—'} | ${sizes} |`);
    }
    lines.push('');
  }

  if (result.byPoreSizeMm.some((b) => b.defects > 0)) {
    lines.push('### Pore size (equivalent diameter)', '', '| bin (mm) | true pores | found | miss rate |', '|---|---:|---:|---:|');
    for (const b of result.byPoreSizeMm) lines.push(`| ${b.bin} | ${b.defects} | ${cell(b.detected, b.defects)} | ${f2(b.recall === null ? null : 1 - b.recall)} |`);
    lines.push('');
  }

  if (conditions.length > 0) {
    lines.push(
      '### Photo conditions',
      '',
      'Per group: photos caught among those positive for the family (recall), and photos flagged among those clean for it (false alarms, all families pooled).',
      '',
    );
    for (const { name, groups } of conditions) {
      lines.push(`#### ${name}`, '', `| ${name} | photos | porosity caught | spacing caught | polish caught | false alarms |`, '|---|---:|---:|---:|---:|---:|');
      for (const [value, ims] of groups) {
        const t = Object.fromEntries(FAMILY_KEYS.map((f) => [f, tally(ims, f)])) as Record<FamilyKey, Tally>;
        const fa = FAMILY_KEYS.reduce((s, f) => s + t[f].falseAlarms, 0);
        const neg = FAMILY_KEYS.reduce((s, f) => s + t[f].negatives, 0);
        lines.push(
          `| ${value} | ${ims.length} | ${cell(t.porosity.caught, t.porosity.positives)} | ${cell(t.stone_spacing.caught, t.stone_spacing.positives)} | ${cell(t.polish.caught, t.polish.positives)} | ${cell(fa, neg)} |`,
        );
      }
      lines.push('');
    }
  }
  return lines;
}
