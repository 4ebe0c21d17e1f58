import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { expect } from 'vitest';
import { hasSamples, loadSampleUploads, type SampleUpload } from '../../../api/demo/samples.js';
import { FIXTURE_MODELS_DIR } from '../../api/support/test-app.js';
import type { InspectionReport } from '../../../pipeline/report.schema.js';

export const REAL_MODELS_DIR = fileURLToPath(new URL('../../../models', import.meta.url));

/** The real model once `models/loupe-seg/<version>/model.json` exists; until then the hand-crafted fixture model. */
export function modelsForE2e(): { dir: string; real: boolean } {
  const idDir = path.join(REAL_MODELS_DIR, 'loupe-seg');
  const real = fs.existsSync(idDir) && fs.readdirSync(idDir).some((v) => fs.existsSync(path.join(idDir, v, 'model.json')));
  return real ? { dir: REAL_MODELS_DIR, real } : { dir: FIXTURE_MODELS_DIR, real };
}

/** The committed samples; until they exist, a few generated photos (then only completion is asserted). */
export async function samplesForE2e(): Promise<{ uploads: SampleUpload[]; committed: boolean }> {
  if (hasSamples()) return { uploads: await loadSampleUploads(), committed: true };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loupe-samples-'));
  const uploads: SampleUpload[] = [];
  for (let i = 0; i < 3; i++) {
    const file = path.join(dir, `gen-${i}.jpg`);
    await sharp({ create: { width: 1024, height: 768, channels: 3, background: { r: 180 + i * 20, g: 150, b: 60 } } })
      .composite([{ input: { create: { width: 400, height: 300, channels: 3, background: { r: 230, g: 200, b: 90 } } }, left: 300, top: 200 }])
      .jpeg()
      .toFile(file);
    uploads.push({
      name: `gen-${i}`,
      file,
      entry: undefined as never,
      metadata: { pieceId: `GEN-${i}`, profile: 'ring', metal: 'au750_yellow', stationId: 'e2e', casting: { tree: 'E2E' }, views: [{ view: 'top', mmPerPx: 0.01 }] },
      expected: 'unknown',
    });
  }
  return { uploads, committed: false };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<any> {
  const res = await fetch(url, { headers });
  expect(res.status, `${url}: ${res.status}`).toBeLessThan(500);
  return res.json();
}

/** Findings that reached their gate: the ones the worker writes findings rows for. */
export function countedFindings(report: InspectionReport): number {
  const fams = report.families;
  return [fams.porosity.findings, fams.stone_spacing.findings, fams.polish.findings].reduce(
    (n, fs: ReadonlyArray<{ belowGate?: boolean }>) => n + fs.filter((f) => !f.belowGate).length,
    0,
  );
}
