import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import type { UploadMetadata } from '../../core/inspection.schema.js';
import { loadManifest } from '../../datasets/manifest-io.js';
import type { ManifestEntry } from '../../datasets/manifest.schema.js';

export const SAMPLES_DIR = fileURLToPath(new URL('../../datasets/samples', import.meta.url));

/** Which product profile a sample's piece type is judged by. */
const PROFILE_OF_PIECE: Record<string, string> = { ring_band: 'band', ring_shank: 'ring', pendant: 'pendant' };

export interface SampleUpload {
  name: string;
  file: string;
  entry: ManifestEntry;
  metadata: UploadMetadata;
  /** What the manifest says is wrong with it, for the printed table ("clean" when nothing). */
  expected: string;
}

export function hasSamples(dir = SAMPLES_DIR): boolean {
  return fs.existsSync(path.join(dir, 'manifest.jsonl'));
}

/** The committed samples as uploads: one single-view inspection per photo, with the manifest's scale. */
export async function loadSampleUploads(dir = SAMPLES_DIR): Promise<SampleUpload[]> {
  const entries = await loadManifest(dir);
  return entries.map((entry, i) => {
    const name = path.basename(entry.file).replace(/\.[^.]+$/, '');
    const kinds = [...new Set(entry.defects.map((d) => d.kind))];
    const metadata: UploadMetadata = {
      pieceId: `SAMPLE-${name}`.replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 128),
      profile: PROFILE_OF_PIECE[entry.piece ?? ''] ?? 'ring',
      metal: entry.metal ?? 'au750_yellow',
      casting: { tree: `DEMO-${(i % 3) + 1}` },
      stationId: 'demo-station',
      views: [{ view: (entry.view ?? 'top').toLowerCase().replace(/[^a-z0-9_-]/g, '_'), ...(entry.mmPerPx ? { mmPerPx: entry.mmPerPx } : {}) }],
      ...(entry.stoneRow ? { expectedStones: entry.stoneRow.expectedCount } : {}),
    };
    return { name, file: path.join(dir, entry.file), entry, metadata, expected: kinds.length ? kinds.join('+') : 'clean' };
  });
}

/** Uploads one sample through the HTTP API, as a station would (multipart: metadata first, then the photo). */
export async function uploadSample(
  baseUrl: string,
  s: SampleUpload,
  opts: { idempotencyKey?: string; apiKey: string },
): Promise<{ id: string; status: number; body: unknown }> {
  const form = new FormData();
  form.append('metadata', JSON.stringify(s.metadata));
  form.append('photo', new Blob([fs.readFileSync(s.file)]), path.basename(s.file));
  const res = await fetch(`${baseUrl}/v1/inspections`, {
    method: 'POST',
    body: form,
    headers: { authorization: `Bearer ${opts.apiKey}`, ...(opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}) },
  });
  const body = (await res.json()) as { id?: string };
  return { id: body.id ?? '', status: res.status, body };
}
