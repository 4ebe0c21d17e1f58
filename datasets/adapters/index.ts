import { z } from 'zod';
import { writeManifest } from '../manifest-io.js';
import type { ManifestEntry, Split } from '../manifest.schema.js';
import type { DatasetAdapter } from './adapter.js';
import { castingImpellerAdapter } from './casting-impeller.adapter.js';
import { magneticTileAdapter } from './magnetic-tile.adapter.js';
import { prepareOutputDir } from './output.js';
import { resolveSourceDir } from './source.js';

export const ADAPTER_NAMES = ['magnetic-tile', 'casting-impeller'] as const;
export const AdapterNameSchema = z.enum(ADAPTER_NAMES);
export type AdapterName = z.infer<typeof AdapterNameSchema>;

const ADAPTERS: Record<AdapterName, DatasetAdapter> = {
  'magnetic-tile': magneticTileAdapter,
  'casting-impeller': castingImpellerAdapter,
};

export interface ImportOptions {
  name: AdapterName;
  split: Split;
  out: string;
  /** Source folder; defaults to ../shared/datasets/<name> beside the repo. */
  from?: string;
  /** Replace a previous import in `out` instead of refusing. */
  force?: boolean;
}

export interface ImportResult {
  src: string;
  manifestPath: string;
  entries: ManifestEntry[];
  /** What the adapter left out and why, one line each. */
  notes: string[];
}

export async function importDataset(opts: ImportOptions): Promise<ImportResult> {
  const adapter = ADAPTERS[opts.name];
  const src = await resolveSourceDir(adapter.name, opts.from, adapter.expects);
  await prepareOutputDir(opts.out, opts.force ?? false);
  const notes: string[] = [];
  const entries = await adapter.run({ src, out: opts.out, split: opts.split, notes });
  const manifestPath = await writeManifest(opts.out, entries);
  return { src, manifestPath, entries, notes };
}

export { DatasetImportError, OutputNotEmptyError, SourceLayoutError, SourceMissingError } from './errors.js';
export { formatSummary } from './summary.js';
