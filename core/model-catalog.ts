import fs from 'node:fs/promises';
import path from 'node:path';
import { ModelManifestSchema } from '../pipeline/model-manifest.schema.js';

/**
 * What `MODELS_DIR` offers, read from the `model.json` files only (no ONNX session: the API never runs a model).
 * Used by `/readyz` (a worker started from this folder will find its models) and `/v1/models`. The active version
 * of an id follows the registry's rule: `active.json` if present, else the highest version folder.
 */
export interface CatalogModel {
  id: string;
  version: string;
  active: boolean;
  sha256: string;
  sizeBytes: number;
  createdAt: string;
  /** Problems that would make a worker refuse the model (missing or wrongly sized `.onnx`). */
  problem: string | null;
}

export async function readModelCatalog(dir: string): Promise<CatalogModel[]> {
  const out: CatalogModel[] = [];
  let ids: string[];
  try {
    ids = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
  for (const id of ids.sort()) {
    const idDir = path.join(dir, id);
    const versions: CatalogModel[] = [];
    for (const e of await fs.readdir(idDir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const jsonPath = path.join(idDir, e.name, 'model.json');
      let raw: unknown;
      try {
        raw = JSON.parse(await fs.readFile(jsonPath, 'utf8'));
      } catch {
        continue;
      }
      const parsed = ModelManifestSchema.safeParse(raw);
      if (!parsed.success) {
        versions.push({ id, version: e.name, active: false, sha256: '', sizeBytes: 0, createdAt: '', problem: `${jsonPath}: ${parsed.error.issues[0]?.message}` });
        continue;
      }
      const m = parsed.data;
      let problem: string | null = null;
      try {
        const st = await fs.stat(path.join(idDir, e.name, m.file));
        if (st.size !== m.sizeBytes) problem = `${m.file} has ${st.size} bytes, model.json says ${m.sizeBytes}`;
      } catch {
        problem = `${m.file} is missing`;
      }
      versions.push({ id, version: m.version, active: false, sha256: m.sha256, sizeBytes: m.sizeBytes, createdAt: m.createdAt, problem });
    }
    if (versions.length === 0) continue;
    let activeVersion: string | undefined;
    try {
      activeVersion = (JSON.parse(await fs.readFile(path.join(idDir, 'active.json'), 'utf8')) as { version?: string }).version;
    } catch {
      activeVersion = [...versions].sort((a, b) => a.version.localeCompare(b.version, 'en', { numeric: true })).at(-1)?.version;
    }
    for (const v of versions) v.active = v.version === activeVersion;
    out.push(...versions);
  }
  return out;
}
