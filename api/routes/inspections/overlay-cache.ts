import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { PhotoStore } from '../../../core/photo-store/photo-store.js';
import { canonicalJson } from '../../../pipeline/profiles.js';
import type { InspectionReport } from '../../../pipeline/report.schema.js';

export type RenderOverlay = (photo: Buffer, report: InspectionReport) => Promise<Buffer>;

/**
 * Overlays are rendered on first request and kept on disk, named after the report they draw: a re-run job with a
 * different report gets a new file, never a stale one. Concurrent requests for the same overlay share one render.
 */
export function overlayCache(dir: string, photos: PhotoStore, render: RenderOverlay) {
  const inflight = new Map<string, Promise<Buffer>>();

  async function renderAndStore(file: string, photoKey: string, report: InspectionReport): Promise<Buffer> {
    try {
      return await fs.readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const png = await render(await photos.get(photoKey), report);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomUUID()}.tmp`;
    await fs.writeFile(tmp, png);
    await fs.rename(tmp, file);
    return png;
  }

  return {
    get(inspectionId: string, n: number, photoKey: string, report: InspectionReport): Promise<Buffer> {
      const digest = createHash('sha256').update(canonicalJson(report)).digest('hex').slice(0, 16);
      const file = path.join(dir, inspectionId, `${n}-${digest}.png`);
      let p = inflight.get(file);
      if (!p) {
        p = renderAndStore(file, photoKey, report).finally(() => inflight.delete(file));
        inflight.set(file, p);
      }
      return p;
    },
  };
}
export type OverlayCache = ReturnType<typeof overlayCache>;
