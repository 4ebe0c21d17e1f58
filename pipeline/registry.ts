import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { z } from 'zod';
import { PipelineError } from './errors.js';
import { warmUpModel } from './warm-up.js';
import { ModelManifestSchema, type ModelManifest, type Verifier } from './model-manifest.schema.js';

/**
 * The model registry: `models/<id>/<version>/{model.onnx,model.json}`, the active version of each id named by
 * `models/<id>/active.json` (`{"version": "..."}`; absent: the highest version). A model whose files disagree with its
 * metadata is refused with the file and the field. One InferenceSession per active model, created once; a promoted
 * version is picked up by the next `lease()` while inspections already holding a lease finish on the old session,
 * which is released when its last lease is.
 */

export const ActiveFileSchema = z.object({ version: z.string().min(1) });
export const MODEL_JSON = 'model.json';
export const ACTIVE_JSON = 'active.json';

export interface LoadedModel {
  readonly id: string;
  readonly version: string;
  readonly dir: string;
  readonly manifest: ModelManifest;
  readonly session: InferenceSession;
  /** The polish verifier's session, when `manifest.verifier` names one (see `pipeline/verify.ts`). */
  readonly verifier?: InferenceSession;
  /** The stone refiner's session, when `manifest.stoneRefiner` names one (see `pipeline/stone-refine.ts`). */
  readonly stoneRefiner?: InferenceSession;
}

/** Releases every session a loaded model holds. */
export async function releaseModel(model: LoadedModel): Promise<void> {
  await Promise.all([model.session.release(), model.verifier?.release(), model.stoneRefiner?.release()]);
}

export interface ModelLease {
  readonly models: readonly LoadedModel[];
  /** Lets a superseded session be released once no inspection uses it. Idempotent. */
  release(): void;
}

export interface ModelInfo {
  id: string;
  version: string;
  sha256: string;
  sizeBytes: number;
  createdAt: string;
  dir: string;
}

export interface RegistryOptions {
  /** ORT intra-op threads; default: the machine's cores (a worker running N processes should divide them). */
  intraOpThreads?: number;
  /** `lease()` re-checks `active.json` at most this often; 0 = on every lease (a file read per id, ~tens of µs). */
  checkIntervalMs?: number;
  /** Only these model ids (default: every id under the directory). */
  ids?: readonly string[];
  /** A promoted version that fails validation keeps the old one serving; the failure is reported here. */
  onReloadError?: (error: unknown) => void;
  /** Runs of each newly loaded model on its largest input before it serves (`pipeline/warm-up.ts`); default 0. */
  warmUpRuns?: number;
  /** Told how long each model's warm-up took. */
  onWarmUp?: (model: { id: string; version: string }, ms: number) => void;
}

export interface ModelRegistry {
  readonly dir: string;
  /** Active models (after a cheap check for promotions), held until `release()`. `pins` load a specific version. */
  lease(pins?: ReadonlyArray<{ id: string; version?: string }>): Promise<ModelLease>;
  /** Re-reads every `active.json` now; resolves to the ids whose version changed. */
  refresh(): Promise<string[]>;
  list(): ModelInfo[];
  close(): Promise<void>;
}

interface Entry {
  model: LoadedModel;
  leases: number;
  retired: boolean;
}

function compareVersions(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function invalid(file: string, field: string, message: string, cause?: unknown): PipelineError {
  return new PipelineError('model_invalid', `${file}: ${field}: ${message}`, { file, field }, cause ? { cause } : undefined);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Version folders of one id: those holding a `model.json`. */
async function listVersions(idDir: string): Promise<string[]> {
  const entries = await readdir(idDir, { withFileTypes: true });
  const versions: string[] = [];
  for (const e of entries) if (e.isDirectory() && (await exists(join(idDir, e.name, MODEL_JSON)))) versions.push(e.name);
  return versions.sort(compareVersions);
}

async function activeVersion(idDir: string): Promise<string | null> {
  const activePath = join(idDir, ACTIVE_JSON);
  let text: string | null = null;
  try {
    text = await readFile(activePath, 'utf8');
  } catch {
    text = null;
  }
  if (text !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw invalid(activePath, '(root)', 'not JSON', error);
    }
    const active = ActiveFileSchema.safeParse(parsed);
    if (!active.success) throw invalid(activePath, 'version', active.error.issues[0]!.message);
    return active.data.version;
  }
  const versions = await listVersions(idDir);
  return versions.at(-1) ?? null;
}

/** Model ids under `dir`: folders with at least one version folder holding a `model.json` (skips training/, eval/). */
async function listModelIds(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const ids: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const idDir = join(dir, e.name);
    if ((await exists(join(idDir, ACTIVE_JSON))) || (await listVersions(idDir)).length > 0) ids.push(e.name);
  }
  return ids.sort();
}

export function sessionOptions(intraOpThreads: number): InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: intraOpThreads,
    // One model runs at a time per process; inter-op parallelism only oversubscribes the cores.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

/**
 * Loads and checks one model folder. Refuses (typed `model_invalid`, naming the file and the field) a `model.json`
 * that does not validate, whose id/version disagree with its folder, whose `model.onnx` has another size or sha256,
 * or whose session's input/output names differ from the metadata.
 */
export async function loadModel(versionDir: string, intraOpThreads = availableParallelism()): Promise<LoadedModel> {
  const jsonPath = join(versionDir, MODEL_JSON);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (error) {
    throw invalid(jsonPath, '(root)', `cannot read as JSON: ${(error as Error).message}`, error);
  }
  const parsed = ModelManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(jsonPath, issue.path.join('.') || '(root)', issue.message);
  }
  const manifest = parsed.data;
  const versionName = versionDir.split(/[\\/]/).filter(Boolean).at(-1)!;
  const idName = versionDir.split(/[\\/]/).filter(Boolean).at(-2)!;
  if (manifest.version !== versionName) throw invalid(jsonPath, 'version', `"${manifest.version}" but the folder is "${versionName}"`);
  if (manifest.id !== idName) throw invalid(jsonPath, 'id', `"${manifest.id}" but the folder is "${idName}"`);
  const { tile, sizeMultiple } = manifest.input;
  if (tile.size % sizeMultiple !== 0) throw invalid(jsonPath, 'input.tile.size', `${tile.size} is not a multiple of sizeMultiple ${sizeMultiple}`);
  if (tile.overlap * 2 >= tile.size) throw invalid(jsonPath, 'input.tile.overlap', `${tile.overlap} leaves no tile centre at size ${tile.size}`);
  for (const [i, out] of manifest.outputs.entries()) {
    // The pipeline reads maps at the working resolution; a coarser head would need an upsampling contract first.
    if (out.stride !== 1) throw invalid(jsonPath, `outputs.${i}.stride`, `${out.stride}: only stride 1 is supported`);
  }

  const onnxPath = join(versionDir, manifest.file);
  const session = await checkedSession(onnxPath, jsonPath, manifest, '', intraOpThreads);
  const refuse = async (field: string, message: string): Promise<never> => {
    await session.release();
    throw invalid(jsonPath, field, message);
  };
  if (session.inputNames.length !== 1 || session.inputNames[0] !== manifest.input.name) {
    await refuse('input.name', `"${manifest.input.name}" but ${onnxPath} takes [${session.inputNames.join(', ')}]`);
  }
  for (const [i, out] of manifest.outputs.entries()) {
    if (!session.outputNames.includes(out.name)) {
      await refuse(`outputs.${i}.name`, `"${out.name}" but ${onnxPath} produces [${session.outputNames.join(', ')}]`);
    }
    const meta = session.outputMetadata.find((m) => m.name === out.name);
    const channels = meta && meta.isTensor ? meta.shape[1] : undefined;
    if (typeof channels === 'number' && channels !== out.channels.length) {
      await refuse(`outputs.${i}.channels`, `${out.channels.length} channels but ${onnxPath}'s "${out.name}" has ${channels}`);
    }
  }
  let verifier: InferenceSession | undefined;
  let stoneRefiner: InferenceSession | undefined;
  try {
    if (manifest.verifier) verifier = await loadPart(versionDir, jsonPath, manifest.verifier, 'verifier.', intraOpThreads);
    if (manifest.stoneRefiner) stoneRefiner = await loadPart(versionDir, jsonPath, manifest.stoneRefiner, 'stoneRefiner.', intraOpThreads);
  } catch (error) {
    await Promise.all([session.release(), verifier?.release()]);
    throw error;
  }
  return { id: manifest.id, version: manifest.version, dir: versionDir, manifest, session, ...(verifier ? { verifier } : {}), ...(stoneRefiner ? { stoneRefiner } : {}) };
}

/**
 * An ONNX file checked against the size and sha256 its model.json states (`fields` prefixes the field names in
 * errors), then loaded from the bytes just hashed, so the checked file is the file loaded.
 */
async function checkedSession(
  path: string,
  jsonPath: string,
  spec: { file: string; sizeBytes: number; sha256: string },
  fields: string,
  intraOpThreads: number,
): Promise<InferenceSession> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw invalid(path, `${fields}file`, `model.json names "${spec.file}" but it cannot be read`, error);
  }
  if (bytes.length !== spec.sizeBytes) throw invalid(jsonPath, `${fields}sizeBytes`, `${spec.sizeBytes} but ${path} has ${bytes.length} bytes`);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== spec.sha256) throw invalid(jsonPath, `${fields}sha256`, `${spec.sha256} but ${path} hashes to ${sha}`);
  try {
    return await InferenceSession.create(bytes, sessionOptions(intraOpThreads));
  } catch (error) {
    throw invalid(path, `${fields}file`, `onnxruntime cannot load it: ${(error as Error).message}`, error);
  }
}

/** A network a version carries beside its seg model (`verifier`, `stoneRefiner`), checked like it. */
async function loadPart(
  versionDir: string,
  jsonPath: string,
  spec: Pick<Verifier, 'file' | 'sizeBytes' | 'sha256' | 'input' | 'output'>,
  fields: string,
  intraOpThreads: number,
): Promise<InferenceSession> {
  const path = join(versionDir, spec.file);
  const session = await checkedSession(path, jsonPath, spec, fields, intraOpThreads);
  if (!session.inputNames.includes(spec.input) || !session.outputNames.includes(spec.output)) {
    await session.release();
    throw invalid(jsonPath, `${fields}input`, `"${spec.input}" -> "${spec.output}" but ${path} takes [${session.inputNames.join(', ')}] -> [${session.outputNames.join(', ')}]`);
  }
  return session;
}

/** `createModelRegistry(dir, options)` or `createModelRegistry({ dir, ...options })`. */
export async function createModelRegistry(
  dirOrOptions: string | (RegistryOptions & { dir: string }),
  moreOptions: RegistryOptions = {},
): Promise<ModelRegistry> {
  const { dir, ...options }: RegistryOptions & { dir: string } =
    typeof dirOrOptions === 'string' ? { ...moreOptions, dir: dirOrOptions } : dirOrOptions;
  const threads = options.intraOpThreads ?? availableParallelism();
  const checkInterval = options.checkIntervalMs ?? 0;
  const active = new Map<string, Entry>();
  const pinned = new Map<string, Entry>();
  let lastCheck = 0;
  let refreshing: Promise<string[]> | null = null;
  let closed = false;

  const releaseIfIdle = (entry: Entry) => {
    if (entry.retired && entry.leases === 0) void releaseModel(entry.model).catch(() => undefined);
  };

  async function desiredVersions(): Promise<Map<string, string>> {
    const ids = options.ids ? [...options.ids] : await listModelIds(dir);
    const out = new Map<string, string>();
    for (const id of ids) {
      const version = await activeVersion(join(dir, id));
      if (version === null) throw invalid(join(dir, id), 'version', 'no version folder with a model.json');
      out.set(id, version);
    }
    return out;
  }

  async function load(versionDir: string): Promise<LoadedModel> {
    const model = await loadModel(versionDir, threads);
    if (options.warmUpRuns) {
      try {
        options.onWarmUp?.(model, await warmUpModel(model, options.warmUpRuns));
      } catch (error) {
        await releaseModel(model);
        throw error;
      }
    }
    return model;
  }

  async function swapIn(id: string, version: string): Promise<void> {
    const model = await load(join(dir, id, version));
    const old = active.get(id);
    active.set(id, { model, leases: 0, retired: false });
    if (old) {
      old.retired = true;
      releaseIfIdle(old);
    }
  }

  async function doRefresh(strict: boolean): Promise<string[]> {
    const changed: string[] = [];
    let desired: Map<string, string>;
    try {
      desired = await desiredVersions();
    } catch (error) {
      if (strict) throw error;
      options.onReloadError?.(error);
      return changed;
    }
    for (const [id, version] of desired) {
      if (active.get(id)?.model.version === version) continue;
      try {
        await swapIn(id, version);
        changed.push(id);
      } catch (error) {
        // At start a bad model is fatal; later, the version already serving keeps serving.
        if (strict || !active.has(id)) throw error;
        options.onReloadError?.(error);
      }
    }
    lastCheck = Date.now();
    return changed;
  }

  function refresh(strict = false): Promise<string[]> {
    refreshing ??= doRefresh(strict).finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  await refresh(true);
  if (active.size === 0) throw new PipelineError('model_unavailable', `no models under ${dir}`, { dir });

  return {
    dir,
    async lease(pins) {
      if (closed) throw new PipelineError('model_unavailable', 'the model registry is closed');
      if (Date.now() - lastCheck >= checkInterval) await refresh();
      const entries: Entry[] = [];
      if (pins && pins.length > 0) {
        for (const pin of pins) {
          const current = active.get(pin.id);
          if (!pin.version || current?.model.version === pin.version) {
            if (!current) throw new PipelineError('model_unavailable', `no model "${pin.id}" under ${dir}`, { id: pin.id });
            entries.push(current);
            continue;
          }
          const key = `${pin.id}@${pin.version}`;
          let entry = pinned.get(key);
          if (!entry) {
            entry = { model: await load(join(dir, pin.id, pin.version)), leases: 0, retired: false };
            pinned.set(key, entry);
          }
          entries.push(entry);
        }
      } else {
        entries.push(...active.values());
      }
      for (const e of entries) e.leases++;
      let released = false;
      return {
        models: entries.map((e) => e.model),
        release() {
          if (released) return;
          released = true;
          for (const e of entries) {
            e.leases--;
            releaseIfIdle(e);
          }
        },
      };
    },
    refresh: () => refresh(),
    list() {
      return [...active.values()].map(({ model }) => ({
        id: model.id,
        version: model.version,
        sha256: model.manifest.sha256,
        sizeBytes: model.manifest.sizeBytes,
        createdAt: model.manifest.createdAt,
        dir: relative(process.cwd(), model.dir) || model.dir,
      }));
    },
    async close() {
      closed = true;
      for (const e of [...active.values(), ...pinned.values()]) {
        e.retired = true;
        releaseIfIdle(e);
      }
      active.clear();
      pinned.clear();
    },
  };
}
