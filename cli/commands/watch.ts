import { createHash } from 'node:crypto';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';

/**
 * `loupe watch DIR --station S`: uploads the photos tethered-camera software saves into a folder. The piece id and
 * view come from each file name (named groups `piece` and `view` of `--pattern`; `tree` and `sku` too when the
 * pattern has them); a file is uploaded once its size and mtime have held still for `--settle-ms` (the camera
 * software writes in chunks), and a piece's photos go up together as one inspection, when all `--views` are there
 * or `--group-ms` after its last photo settled. What was uploaded is kept in DIR/.loupe-watch.json, so a restart
 * uploads nothing twice; each upload carries an Idempotency-Key derived from its files, so a crash between the
 * upload and saving that file does not make a second inspection either.
 */

/** `R-1001_top.jpg`, `R-1001 oblique.JPG`, `R-1001_top_2.jpg` (a retake of the top view: the newest file wins). */
export const DEFAULT_PATTERN = '^(?<piece>[A-Za-z0-9][A-Za-z0-9.:-]*)[_ ](?<view>[a-z][a-z0-9-]*)(?:[_ ]\\d+)?\\.(?:jpe?g|png|tiff?|webp)$';

const IdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/).max(128);

export const WatchOptionsSchema = z.object({
  dir: z.string().min(1),
  url: z.url(),
  key: z.string().min(1, 'LOUPE_KEY (a station key) is required'),
  station: IdSchema,
  profile: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/),
  metal: z.string().min(1),
  sku: IdSchema.optional(),
  tree: IdSchema.optional(),
  mmPerPx: z.coerce.number().positive().max(1).optional(),
  pattern: z.string().default(DEFAULT_PATTERN),
  /** The views that complete a piece; when all are there it goes up without waiting for `groupMs`. */
  views: z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/)).default([]),
  settleMs: z.coerce.number().int().min(0).default(1500),
  groupMs: z.coerce.number().int().min(0).default(5000),
  intervalMs: z.coerce.number().int().min(50).default(500),
  stateFile: z.string().optional(),
});
export type WatchOptions = z.input<typeof WatchOptionsSchema>;

const StateSchema = z.object({
  version: z.literal(1),
  /** File name → what was done with it (by size and mtime, so a file written again under the same name goes up again). */
  files: z.record(z.string(), z.object({ size: z.number(), mtimeMs: z.number(), inspectionId: z.string().nullable(), error: z.string().optional(), at: z.string() })),
});
type State = z.infer<typeof StateSchema>;

interface Seen {
  size: number;
  mtimeMs: number;
  /** When size and mtime were last seen to change. */
  changedAt: number;
}

interface Ready {
  name: string;
  piece: string;
  view: string;
  tree?: string;
  sku?: string;
  size: number;
  mtimeMs: number;
  readyAt: number;
}

export interface UploadLog {
  piece: string;
  files: string[];
  views: string[];
  status: number;
  inspectionId: string | null;
  message?: string;
}

export function createWatcher(raw: WatchOptions, log: (line: string) => void = (l) => process.stdout.write(`${l}\n`)) {
  const o = WatchOptionsSchema.parse(raw);
  const pattern = new RegExp(o.pattern, 'i');
  const stateFile = o.stateFile ?? join(o.dir, '.loupe-watch.json');
  const seen = new Map<string, Seen>();
  const uploads: UploadLog[] = [];
  let state: State | null = null;
  let stopped = false;

  async function loadState(): Promise<State> {
    if (state) return state;
    try {
      state = StateSchema.parse(JSON.parse(await readFile(stateFile, 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log(`warning: ${stateFile} unreadable (${(err as Error).message}); starting a new one`);
      state = { version: 1, files: {} };
    }
    return state;
  }

  async function saveState(): Promise<void> {
    const tmp = `${stateFile}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(state, null, 1));
    await rename(tmp, stateFile);
  }

  function parseName(name: string): Omit<Ready, 'size' | 'mtimeMs' | 'readyAt'> | null {
    const m = pattern.exec(name);
    const g = m?.groups;
    if (!g?.piece) return null;
    return { name, piece: g.piece, view: (g.view ?? 'top').toLowerCase(), ...(g.tree ? { tree: g.tree } : {}), ...(g.sku ? { sku: g.sku } : {}) };
  }

  async function upload(piece: string, files: Ready[]): Promise<UploadLog> {
    // One photo per view: a retake saved later replaces the earlier one of its view.
    const byView = new Map<string, Ready>();
    for (const f of [...files].sort((a, b) => a.mtimeMs - b.mtimeMs)) byView.set(f.view, f);
    // In --views order (the profile's usual order), then any others by name.
    const rank = (v: string) => (o.views.includes(v) ? o.views.indexOf(v) : o.views.length);
    const chosen = [...byView.values()].sort((a, b) => rank(a.view) - rank(b.view) || a.view.localeCompare(b.view));
    const tree = chosen.find((f) => f.tree)?.tree ?? o.tree;
    const sku = chosen.find((f) => f.sku)?.sku ?? o.sku;
    const metadata = {
      pieceId: piece,
      profile: o.profile,
      metal: o.metal,
      stationId: o.station,
      ...(sku ? { sku } : {}),
      ...(tree ? { casting: { tree } } : {}),
      views: chosen.map((f) => ({ view: f.view, ...(o.mmPerPx ? { mmPerPx: o.mmPerPx } : {}) })),
    };
    const form = new FormData();
    form.append('metadata', JSON.stringify(metadata));
    for (const f of chosen) form.append('photo', new Blob([await readFile(join(o.dir, f.name))]), f.name);
    const idem = createHash('sha256').update(JSON.stringify(files.map((f) => [f.name, f.size, f.mtimeMs]))).digest('hex');
    const res = await fetch(new URL('/v1/inspections', o.url), {
      method: 'POST',
      body: form,
      headers: { authorization: `Bearer ${o.key}`, 'idempotency-key': `watch-${idem}` },
    });
    const body = (await res.json().catch(() => ({}))) as { id?: string; message?: string };
    return { piece, files: files.map((f) => f.name), views: chosen.map((f) => f.view), status: res.status, inspectionId: body.id ?? null, ...(body.message ? { message: body.message } : {}) };
  }

  /** One look at the folder: track sizes, upload the pieces that are complete. Returns what it uploaded. */
  async function scanOnce(now = Date.now()): Promise<UploadLog[]> {
    const st = await loadState();
    const done: UploadLog[] = [];
    const ready: Ready[] = [];
    const names = await readdir(o.dir);
    const present = new Set(names);
    for (const n of seen.keys()) if (!present.has(n)) seen.delete(n);
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const parsed = parseName(name);
      if (!parsed) continue;
      let s;
      try {
        s = await stat(join(o.dir, name));
      } catch {
        continue; // renamed away between readdir and stat
      }
      if (!s.isFile()) continue;
      const prev = st.files[name];
      if (prev && prev.size === s.size && prev.mtimeMs === s.mtimeMs) continue;
      const was = seen.get(name);
      if (!was || was.size !== s.size || was.mtimeMs !== s.mtimeMs) {
        seen.set(name, { size: s.size, mtimeMs: s.mtimeMs, changedAt: now });
        continue;
      }
      if (s.size > 0 && now - was.changedAt >= o.settleMs) ready.push({ ...parsed, size: s.size, mtimeMs: s.mtimeMs, readyAt: was.changedAt + o.settleMs });
    }
    const pieces = new Map<string, Ready[]>();
    for (const r of ready) pieces.set(r.piece, [...(pieces.get(r.piece) ?? []), r]);
    // A piece waits while any of its files is still being written.
    const writing = new Set([...seen.entries()].filter(([n]) => !ready.some((r) => r.name === n) && !st.files[n]).map(([n]) => parseName(n)?.piece));
    for (const [piece, files] of pieces) {
      if (writing.has(piece)) continue;
      const views = new Set(files.map((f) => f.view));
      const complete = o.views.length > 0 && o.views.every((v) => views.has(v));
      const quiet = now - Math.max(...files.map((f) => f.readyAt)) >= o.groupMs;
      if (!complete && !quiet) continue;
      let result: UploadLog;
      try {
        result = await upload(piece, files);
      } catch (err) {
        log(`${piece}: upload failed (${(err as Error).message}); retrying`);
        continue;
      }
      // 5xx and 429 are worth retrying; a 4xx will not get better by itself, so it is recorded and not retried.
      if (result.status >= 500 || result.status === 429) {
        log(`${piece}: ${result.status} ${result.message ?? ''}; retrying`);
        continue;
      }
      const ok = result.status === 202;
      for (const f of files) {
        st.files[f.name] = { size: f.size, mtimeMs: f.mtimeMs, inspectionId: result.inspectionId, ...(ok ? {} : { error: `${result.status} ${result.message ?? ''}`.trim() }), at: new Date(now).toISOString() };
        seen.delete(f.name);
      }
      await saveState();
      log(ok ? `${piece}: ${result.views.join(', ')} -> inspection ${result.inspectionId}` : `${piece}: refused ${result.status}: ${result.message ?? ''}`);
      done.push(result);
      uploads.push(result);
    }
    return done;
  }

  return {
    scanOnce,
    uploads,
    stop() {
      stopped = true;
    },
    async run(): Promise<void> {
      log(`watching ${o.dir} for ${o.station} (pattern ${o.pattern}); state in ${basename(stateFile)}`);
      while (!stopped) {
        await scanOnce().catch((err: unknown) => log(`scan failed: ${(err as Error).message}`));
        await new Promise((r) => setTimeout(r, o.intervalMs));
      }
    },
  };
}

export function register(program: Command): void {
  program
    .command('watch')
    .description('upload each photo tethered-camera software saves into DIR (station key in LOUPE_KEY, API in LOUPE_URL); see docs/review.md')
    .argument('<dir>', 'folder the camera software saves into')
    .requiredOption('--station <id>', 'station id the photos are taken at')
    .requiredOption('--profile <name>', 'product profile of the pieces (e.g. ring)')
    .requiredOption('--metal <metal>', 'alloy of the pieces (e.g. au750_yellow)')
    .option('--pattern <regex>', 'file-name pattern with named groups piece and view (optional: tree, sku)', DEFAULT_PATTERN)
    .option('--views <list>', 'views that complete a piece, comma-separated (e.g. top,oblique): upload as soon as all are there')
    .option('--sku <sku>', 'SKU of the pieces')
    .option('--tree <tree>', 'casting tree of the pieces (unless the pattern names it)')
    .option('--mm-per-px <n>', "scale of the photos (default: the station's calibration)")
    .option('--settle-ms <ms>', 'a file counts as written once its size has not changed for this long', '1500')
    .option('--group-ms <ms>', "upload a piece this long after its last photo, if --views is not complete", '5000')
    .option('--interval-ms <ms>', 'how often to look at the folder', '500')
    .option('--state <file>', 'where to remember uploads (default DIR/.loupe-watch.json)')
    .action(async (dir: string, opts: Record<string, string | undefined>) => {
      const parsed = WatchOptionsSchema.safeParse({
        dir,
        url: process.env.LOUPE_URL ?? 'http://127.0.0.1:3000',
        key: process.env.LOUPE_KEY ?? '',
        station: opts.station,
        profile: opts.profile,
        metal: opts.metal,
        ...(opts.sku ? { sku: opts.sku } : {}),
        ...(opts.tree ? { tree: opts.tree } : {}),
        ...(opts.mmPerPx ? { mmPerPx: opts.mmPerPx } : {}),
        pattern: opts.pattern,
        views: opts.views ? opts.views.split(',').map((v) => v.trim()).filter(Boolean) : [],
        settleMs: opts.settleMs,
        groupMs: opts.groupMs,
        intervalMs: opts.intervalMs,
        ...(opts.state ? { stateFile: opts.state } : {}),
      });
      if (!parsed.success) {
        for (const i of parsed.error.issues) console.error(`${i.path.join('.') || 'options'}: ${i.message}`);
        process.exitCode = 2;
        return;
      }
      try {
        new RegExp(parsed.data.pattern, 'i');
      } catch (err) {
        console.error(`--pattern: ${(err as Error).message}`);
        process.exitCode = 2;
        return;
      }
      const watcher = createWatcher(parsed.data);
      const stop = () => watcher.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await watcher.run();
    });
}
