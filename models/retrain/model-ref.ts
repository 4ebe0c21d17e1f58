import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ACTIVE_JSON, ActiveFileSchema, MODEL_JSON } from '../../pipeline/registry.js';
import { RetrainError } from './errors.js';

/**
 * Model folders as the registry sees them: `<models>/<id>/<version>/model.json`, the active version named by
 * `<id>/active.json`, else the highest version (the registry's rule, repeated here only as far as reading goes).
 */

export interface ModelRef {
  id: string;
  version?: string;
}

export interface ResolvedModel {
  id: string;
  version: string;
  dir: string;
}

const ID_RE = /^[a-z0-9][a-z0-9-]*$/;
const VERSION_RE = /^[0-9A-Za-z.+-]+$/;

export function parseModelRef(ref: string): ModelRef {
  const [id, version, extra] = ref.split('@');
  if (!id || !ID_RE.test(id) || extra !== undefined || (version !== undefined && !VERSION_RE.test(version))) {
    throw new RetrainError(`"${ref}" is not a model reference: expected ID or ID@VERSION (e.g. loupe-seg@1.0.0)`);
  }
  return version ? { id, version } : { id };
}

export function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Version folders of an id that hold a model.json, lowest first (the registry's order). */
export async function listVersions(modelsDir: string, id: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(join(modelsDir, id), { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) if (e.isDirectory() && (await isFile(join(modelsDir, id, e.name, MODEL_JSON)))) out.push(e.name);
  return out.sort(compareVersions);
}

/** The version `active.json` names, or null when there is no such file. */
export async function readActiveFile(modelsDir: string, id: string): Promise<string | null> {
  const path = join(modelsDir, id, ACTIVE_JSON);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  const parsed = ActiveFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new RetrainError(`${path}: not {"version": "..."}`);
  return parsed.data.version;
}

/** What a registry started now would serve: active.json's version, else the highest version folder. */
export async function effectiveVersion(modelsDir: string, id: string): Promise<string | null> {
  return (await readActiveFile(modelsDir, id)) ?? (await listVersions(modelsDir, id)).at(-1) ?? null;
}

export async function resolveModel(modelsDir: string, ref: ModelRef): Promise<ResolvedModel> {
  const versions = await listVersions(modelsDir, ref.id);
  if (versions.length === 0) throw new RetrainError(`no model "${ref.id}" under ${modelsDir} (no ${ref.id}/<version>/${MODEL_JSON})`);
  const version = ref.version ?? (await effectiveVersion(modelsDir, ref.id))!;
  if (!versions.includes(version)) {
    throw new RetrainError(`${ref.id}@${version} is not under ${modelsDir} (versions: ${versions.join(', ')})`);
  }
  return { id: ref.id, version, dir: join(modelsDir, ref.id, version) };
}

/**
 * The next free version after `base`: the minor number bumped (`1.0.0` → `1.1.0`, then `1.2.0` when that exists);
 * a version that is not `MAJOR.MINOR.PATCH…` gets `-ft1`, `-ft2`, … appended.
 */
export async function nextVersion(modelsDir: string, id: string, base: string): Promise<string> {
  const taken = new Set(
    (await readdir(join(modelsDir, id), { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name),
  );
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(base);
  for (let i = 1; i < 10_000; i++) {
    const candidate = m ? `${m[1]}.${Number(m[2]) + i}.0` : `${base}-ft${i}`;
    if (!taken.has(candidate)) return candidate;
  }
  throw new RetrainError(`no free version after ${id}@${base}`);
}

/** Write-then-rename, so a registry polling the file never reads half of it. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await rename(tmp, path);
}

export async function writeActiveFile(modelsDir: string, id: string, version: string): Promise<void> {
  await writeJsonAtomic(join(modelsDir, id, ACTIVE_JSON), ActiveFileSchema.parse({ version }));
}
