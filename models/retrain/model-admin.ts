import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ModelManifestSchema } from '../../pipeline/model-manifest.schema.js';
import { loadModel, releaseModel } from '../../pipeline/registry.js';
import { RetrainError } from './errors.js';
import { effectiveVersion, listVersions, readActiveFile, writeActiveFile, writeJsonAtomic } from './model-ref.js';

/**
 * `loupe models list | promote | rollback`. Promotion is one atomic write of `<id>/active.json`, which running
 * registries (workers, the API's catalog) pick up on their next check; nothing restarts. Each change is appended to
 * `<id>/history.json`, beside the models it talks about (the audit trail, when a store is reachable, gets the same
 * event through the `record` callback the CLI wires in: models/ never imports the service's store).
 */

export const HISTORY_JSON = 'history.json';

export const HistoryEventSchema = z.object({
  action: z.enum(['promote', 'rollback']),
  from: z.string().nullable(),
  to: z.string(),
  at: z.string(),
  by: z.string(),
  sha256: z.string(),
});
export const HistoryFileSchema = z.object({ schemaVersion: z.literal(1), events: z.array(HistoryEventSchema) });
export type HistoryEvent = z.infer<typeof HistoryEventSchema>;

export interface ModelChange extends HistoryEvent {
  id: string;
  modelsDir: string;
}

export interface AdminOptions {
  modelsDir: string;
  /** Who acted, e.g. `cli:ana`. */
  by: string;
  /** Records the change elsewhere (the audit trail); a failure is the caller's to report, the change stands. */
  record?: (change: ModelChange) => Promise<void>;
}

export async function readHistory(modelsDir: string, id: string): Promise<HistoryEvent[]> {
  const path = join(modelsDir, id, HISTORY_JSON);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const parsed = HistoryFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new RetrainError(`${path} is not a promotion history: ${parsed.error.issues[0]?.message}`);
  return parsed.data.events;
}

/**
 * Versions that were active before the current one, most recent last: a promotion pushes the version it replaced,
 * a rollback pops it. So two rollbacks after two promotions land on the version before both.
 */
export function previousVersions(events: readonly HistoryEvent[]): string[] {
  const stack: string[] = [];
  for (const e of events) {
    if (e.action === 'promote') {
      if (e.from !== null && e.from !== e.to) stack.push(e.from);
    } else stack.pop();
  }
  return stack;
}

async function validated(modelsDir: string, id: string, version: string): Promise<string> {
  const versions = await listVersions(modelsDir, id);
  if (!versions.includes(version)) {
    throw new RetrainError(`${id}@${version} is not in ${join(modelsDir, id)} (versions: ${versions.join(', ') || 'none'})`);
  }
  try {
    // The registry's own check: model.json against the schema, size and sha256 of the ONNX file, input/output names.
    const loaded = await loadModel(join(modelsDir, id, version), 1);
    await releaseModel(loaded);
    return loaded.manifest.sha256;
  } catch (err) {
    throw new RetrainError(`refusing to activate ${id}@${version}: ${(err as Error).message}`);
  }
}

async function change(opts: AdminOptions, id: string, action: HistoryEvent['action'], to: string): Promise<ModelChange> {
  const modelsDir = resolve(opts.modelsDir);
  const sha256 = await validated(modelsDir, id, to);
  const from = await effectiveVersion(modelsDir, id);
  const events = await readHistory(modelsDir, id);
  await writeActiveFile(modelsDir, id, to);
  const event: HistoryEvent = { action, from, to, at: new Date().toISOString(), by: opts.by, sha256 };
  await writeJsonAtomic(join(modelsDir, id, HISTORY_JSON), HistoryFileSchema.parse({ schemaVersion: 1, events: [...events, event] }));
  const done: ModelChange = { ...event, id, modelsDir };
  await opts.record?.(done);
  return done;
}

export async function promote(opts: AdminOptions, id: string, version: string): Promise<ModelChange> {
  return change(opts, id, 'promote', version);
}

export async function rollback(opts: AdminOptions, id: string): Promise<ModelChange> {
  const modelsDir = resolve(opts.modelsDir);
  const prev = previousVersions(await readHistory(modelsDir, id)).at(-1);
  if (prev === undefined) {
    throw new RetrainError(`nothing to roll back to: ${join(modelsDir, id, HISTORY_JSON)} records no earlier active version of ${id}`);
  }
  return change(opts, id, 'rollback', prev);
}

export interface ListedVersion {
  id: string;
  version: string;
  active: boolean;
  sha256: string | null;
  createdAt: string | null;
  sizeBytes: number | null;
  /** A few headline figures: the fine-tune comparison when there is one, else the exporter's validation figures. */
  metrics: Record<string, number | null>;
  problem: string | null;
}

function headline(metrics: Record<string, unknown>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  const comparison = metrics.comparison as { families?: Record<string, { new?: Record<string, number | null> }> } | undefined;
  for (const [fam, v] of Object.entries(comparison?.families ?? {})) {
    out[`${fam}.acc`] = v.new?.accuracy ?? null;
    out[`${fam}.auroc`] = v.new?.auroc ?? null;
  }
  if (Object.keys(out).length > 0) return out;
  const channels = (metrics.channels ?? {}) as Record<string, { imageAuroc?: number | null }>;
  if (channels.porosity) out['porosity.valAuroc'] = channels.porosity.imageAuroc ?? null;
  const stones = metrics.stones as { f1?: number | null } | undefined;
  if (stones) out['stones.valF1'] = stones.f1 ?? null;
  return out;
}

/** Every version of every id (read from `model.json` only: no ONNX session, so listing is instant). */
export async function listModels(modelsDir: string): Promise<ListedVersion[]> {
  const dir = resolve(modelsDir);
  const out: ListedVersion[] = [];
  const ids = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const id of ids) {
    const versions = await listVersions(dir, id);
    if (versions.length === 0) continue;
    let active: string | null;
    try {
      active = (await readActiveFile(dir, id)) ?? versions.at(-1)!;
    } catch {
      active = null;
    }
    for (const version of versions) {
      const base: ListedVersion = { id, version, active: version === active, sha256: null, createdAt: null, sizeBytes: null, metrics: {}, problem: null };
      try {
        const parsed = ModelManifestSchema.safeParse(JSON.parse(await readFile(join(dir, id, version, 'model.json'), 'utf8')));
        if (!parsed.success) {
          out.push({ ...base, problem: `model.json: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}` });
          continue;
        }
        const m = parsed.data;
        out.push({ ...base, sha256: m.sha256, createdAt: m.createdAt, sizeBytes: m.sizeBytes, metrics: headline(m.metrics) });
      } catch (err) {
        out.push({ ...base, problem: (err as Error).message });
      }
    }
  }
  return out;
}

export function formatModelList(rows: readonly ListedVersion[]): string {
  if (rows.length === 0) return '(no models)';
  const fmt = (v: number | null) => (v === null ? '—' : v.toFixed(3));
  const lines = [`${'  id'.padEnd(14)}${'version'.padEnd(16)}${'sha256'.padEnd(14)}${'created'.padEnd(22)}metrics`];
  for (const r of rows) {
    const metrics = r.problem ?? (Object.entries(r.metrics).map(([k, v]) => `${k} ${fmt(v)}`).join('  ') || '—');
    lines.push(`${(r.active ? '* ' : '  ') + r.id}`.padEnd(14) + r.version.padEnd(16) + (r.sha256?.slice(0, 12) ?? '—').padEnd(14) + (r.createdAt ?? '—').padEnd(22) + metrics);
  }
  lines.push('(* = active: the version workers serve)');
  return lines.join('\n');
}
