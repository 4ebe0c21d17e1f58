import { FAMILIES, type ManifestEntry } from '../manifest.schema.js';

export interface ClassSummary {
  class: string;
  /** The families labelled true, or `clean`. */
  labels: string;
  images: number;
  masks: number;
  defects: number;
}

export function summarise(entries: readonly ManifestEntry[]): ClassSummary[] {
  const rows = new Map<string, ClassSummary>();
  for (const entry of entries) {
    const cls = entry.origin?.class ?? '(unknown)';
    const trueFamilies = FAMILIES.filter((f) => entry.labels[f]);
    const labels = trueFamilies.length > 0 ? trueFamilies.join('+') : 'clean';
    const key = `${cls}\u0000${labels}`;
    const row = rows.get(key) ?? { class: cls, labels, images: 0, masks: 0, defects: 0 };
    row.images++;
    row.masks += (entry.masks.porosity ? 1 : 0) + (entry.masks.polish ? 1 : 0);
    row.defects += entry.defects.length;
    rows.set(key, row);
  }
  return [...rows.values()];
}

export function formatSummary(title: string, entries: readonly ManifestEntry[]): string {
  const rows = summarise(entries);
  const width = Math.max(5, ...rows.map((r) => r.class.length));
  const lines = rows.map(
    (r) =>
      `  ${r.class.padEnd(width)}  ${String(r.images).padStart(5)} images  ${r.labels.padEnd(9)}  ` +
      `${r.masks} masks  ${r.defects} defects`,
  );
  return [`${title}: ${entries.length} images`, ...lines].join('\n');
}
