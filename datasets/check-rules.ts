import { isAbsolute, normalize, sep } from 'node:path';
import { DefectKindSchema, FAMILIES, familyOfKind, type Family, type ManifestEntry } from './manifest.schema.js';

export type Severity = 'error' | 'warning';

/** A finding about one entry, before the caller attaches the line number. */
export interface EntryFinding {
  severity: Severity;
  file?: string;
  message: string;
}

/**
 * The manifest rounds gaps for humans to read; a thousandth of a millimetre is far below any spacing tolerance (tenths
 * of a millimetre) and far above float noise, so a larger difference means the gaps and the stones disagree.
 */
export const GAP_RECOMPUTE_TOLERANCE_MM = 1e-3;

/** Families that have a mask key in the manifest; stone spacing is described by stones, not pixels. */
const MASKED_FAMILIES = ['porosity', 'polish'] as const;

/** Paths must stay inside the dataset folder, so checking (and training on) a manifest never reads elsewhere. */
export function isInsideDataset(relPath: string): boolean {
  if (relPath === '' || isAbsolute(relPath) || relPath.includes('\\')) return false;
  const norm = normalize(relPath);
  return norm !== '..' && !norm.startsWith(`..${sep}`);
}

export function filePathsOf(entry: ManifestEntry): Array<{ key: string; path: string }> {
  const paths = [{ key: 'file', path: entry.file }];
  for (const family of MASKED_FAMILIES) {
    const mask = entry.masks[family];
    if (mask !== null) paths.push({ key: `masks.${family}`, path: mask });
  }
  for (const [kind, path] of Object.entries(entry.kindMasks ?? {})) paths.push({ key: `kindMasks.${kind}`, path });
  return paths;
}

function checkPaths(entry: ManifestEntry): EntryFinding[] {
  return filePathsOf(entry)
    .filter(({ path }) => !isInsideDataset(path))
    .map(({ key, path }) => ({ severity: 'error', message: `${key} "${path}" is not a relative path inside the dataset folder` }));
}

function checkBoxes(entry: ManifestEntry): EntryFinding[] {
  const findings: EntryFinding[] = [];
  entry.defects.forEach((defect, i) => {
    const [x0, y0, x1, y1] = defect.bbox;
    const box = `defects[${i}].bbox [${defect.bbox.join(',')}]`;
    if (!(x0 < x1 && y0 < y1)) {
      findings.push({ severity: 'error', message: `${box} is empty or reversed (needs x0<x1 and y0<y1)` });
    } else if (x0 < 0 || y0 < 0 || x1 > entry.width || y1 > entry.height) {
      findings.push({ severity: 'error', message: `${box} lies outside the ${entry.width}x${entry.height} image` });
    }
    const kind = defect.kind;
    if (familyOfKind(kind) !== defect.family) {
      findings.push({
        severity: 'error',
        message: `defects[${i}] has family ${defect.family} but kind ${kind} belongs to ${familyOfKind(kind)}`,
      });
    }
  });
  return findings;
}

/**
 * `labels.F` is true exactly when a defect of family F is in the image. A defect entry or a mask of F is evidence; a
 * true label with neither is only allowed where the set says it labels whole images (`labelLevel: "image"`), since
 * for pixel-level data it means a lost annotation, the kind of mislabel that silently teaches a model wrong things.
 */
function checkLabels(entry: ManifestEntry): EntryFinding[] {
  const findings: EntryFinding[] = [];
  const imageLevel = entry.labelLevel === 'image';
  const kindMaskFamilies = new Set<Family>();
  for (const kind of Object.keys(entry.kindMasks ?? {})) {
    const parsed = DefectKindSchema.safeParse(kind);
    if (parsed.success) kindMaskFamilies.add(familyOfKind(parsed.data));
    else findings.push({ severity: 'warning', message: `kindMasks has unknown kind "${kind}"` });
  }
  for (const family of FAMILIES) {
    const defectCount = entry.defects.filter((d) => d.family === family).length;
    const mask = (MASKED_FAMILIES as readonly string[]).includes(family)
      ? entry.masks[family as (typeof MASKED_FAMILIES)[number]]
      : null;
    const evidence = [
      defectCount > 0 ? `${defectCount} ${family} defect(s)` : '',
      mask !== null ? `masks.${family}` : '',
      kindMaskFamilies.has(family) ? `a ${family} kind mask` : '',
    ].filter((e) => e !== '');
    if (!entry.labels[family] && evidence.length > 0) {
      findings.push({ severity: 'error', message: `labels.${family} is false but the entry has ${evidence.join(' and ')}` });
    }
    if (entry.labels[family] && evidence.length === 0 && !imageLevel) {
      findings.push({
        severity: 'error',
        message: `labels.${family} is true but there is no ${family} defect or mask (image-level sets say labelLevel:"image")`,
      });
    }
    if (mask === null && defectCount > 0 && !imageLevel && family !== 'stone_spacing') {
      findings.push({ severity: 'warning', message: `${defectCount} ${family} defect(s) but masks.${family} is null` });
    }
  }
  return findings;
}

function checkStones(entry: ManifestEntry): EntryFinding[] {
  const findings: EntryFinding[] = [];
  const { stones, stoneRow, mmPerPx } = entry;
  stones.forEach((s, i) => {
    if (s.cx < 0 || s.cy < 0 || s.cx >= entry.width || s.cy >= entry.height) {
      findings.push({ severity: 'error', message: `stones[${i}] centre (${s.cx}, ${s.cy}) lies outside the image` });
    }
  });
  if (stoneRow === null) {
    if (stones.length > 0) findings.push({ severity: 'error', message: `${stones.length} stones but stoneRow is null` });
    return findings;
  }
  const expectedGaps = Math.max(0, stones.length - 1);
  if (stoneRow.gapsMm.length !== expectedGaps) {
    findings.push({
      severity: 'error',
      message: `stoneRow.gapsMm has ${stoneRow.gapsMm.length} gaps but ${stones.length} stones give ${expectedGaps}`,
    });
    return findings;
  }
  if (mmPerPx === null) {
    if (expectedGaps > 0) findings.push({ severity: 'error', message: 'stoneRow.gapsMm is in mm but mmPerPx is null' });
    return findings;
  }
  for (let i = 0; i < expectedGaps; i++) {
    const a = stones[i];
    const b = stones[i + 1];
    const gapMm = (Math.hypot(b.cx - a.cx, b.cy - a.cy) - a.r - b.r) * mmPerPx;
    if (Math.abs(gapMm - stoneRow.gapsMm[i]) > GAP_RECOMPUTE_TOLERANCE_MM) {
      findings.push({
        severity: 'error',
        message: `stoneRow.gapsMm[${i}] is ${stoneRow.gapsMm[i]} but stones ${i} and ${i + 1} are ${gapMm.toFixed(4)} mm apart`,
      });
    }
  }
  return findings;
}

/** Every check that needs only the entry itself (no file reads). */
export function checkEntry(entry: ManifestEntry): EntryFinding[] {
  return [...checkPaths(entry), ...checkBoxes(entry), ...checkLabels(entry), ...checkStones(entry)];
}
