import type { ManifestEntry, Split } from '../manifest.schema.js';

export interface ImportContext {
  /** The resolved, existing source folder. */
  src: string;
  /** The prepared output folder; adapters write images/ and masks/ into it, the caller writes the manifest. */
  out: string;
  split: Split;
  /** Lines for the person importing: what the adapter left out and why. */
  notes: string[];
}

export interface DatasetAdapter {
  name: string;
  /** What `--from` must contain, for the message when the source is missing. */
  expects: string;
  /** Writes the split's files and returns its manifest entries in a fixed order. */
  run(ctx: ImportContext): Promise<ManifestEntry[]>;
}

/** Every key real sets cannot know, set once so adapters only state what they do know. A fresh object per entry, so
 * no two entries share a `stones` array. */
export function unknownPiece() {
  return {
    schemaVersion: 1 as const,
    mmPerPx: null,
    metal: null,
    piece: null,
    view: null,
    stones: [],
    stoneRow: null,
  };
}

/** Image-level work is I/O and libvips threads; four in flight keeps two cores busy. */
export const IMPORT_CONCURRENCY = 4;
