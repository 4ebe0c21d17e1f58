import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EvalResultSchema, type EvalResult } from './eval-result.schema.js';
import { writeFailureGallery } from './failures-gallery.js';
import { countsText } from './format-eval.js';
import { runEval, runEvalWithImages } from './run-eval.js';

/**
 * The model-quality evaluation sets, defined once: the model card, README and `loupe eval-suite` all read them here.
 *
 * The training recipe holds out the velvet background and rose gold (`TRAINING_DOMAIN`); `in-distribution` draws from
 * the same domain with a seed never trained or calibrated on, `shifted` draws only what training never saw, and
 * `real` is the magnetic-tile test split; `12mp` asks the in-distribution question of photos at the camera's 12 MP;
 * `close-up` holds out framing: macro close-ups narrower than any training photo's field of view. Seeds follow datasets/README.md: 300-399 are evaluation seeds.
 */
export const TRAINING_DOMAIN = { excludeBackgrounds: ['velvet'], excludeMetals: ['au750_rose'] } as const;

export type SetSource =
  | { kind: 'synth'; seed: number; count: number; size: number; excludeBackgrounds?: readonly string[]; excludeMetals?: readonly string[]; backgrounds?: readonly string[]; metals?: readonly string[]; fovMm?: readonly [number, number] }
  | { kind: 'import'; adapter: 'magnetic-tile'; split: 'test' };

export interface EvalSet {
  name: 'in-distribution' | '12mp' | 'shifted' | 'close-up' | 'real';
  folder: string;
  what: string;
  profile: string;
  source: SetSource;
}

export const EVAL_SETS: readonly EvalSet[] = [
  {
    name: 'in-distribution',
    folder: 'eval-s300',
    what: 'generator, training domain (no velvet, no rose gold), seed 300: never trained or calibrated on',
    profile: 'band',
    source: { kind: 'synth', seed: 300, count: 300, size: 1024, ...TRAINING_DOMAIN },
  },
  {
    // The camera's resolution: the 1024 px sets sit near the models' working scale; here every photo is downsampled
    // ~3x on the way in, as in service. Fewer photos: each takes ~10 s to render.
    name: '12mp',
    folder: 'eval12mp-s310',
    what: 'generator, training domain, 4000 px wide (12 MP), seed 310: the in-distribution question at the camera\'s resolution',
    profile: 'band',
    source: { kind: 'synth', seed: 310, count: 100, size: 4000, ...TRAINING_DOMAIN },
  },
  {
    name: 'shifted',
    folder: 'shift-s301',
    what: 'generator, only what training held out: velvet background AND rose gold, seed 301',
    profile: 'band',
    source: { kind: 'synth', seed: 301, count: 300, size: 1024, backgrounds: ['velvet'], metals: ['au750_rose'] },
  },
  {
    // Training drew the field of view from 10-30 mm; an operator's macro shot is narrower. The piece fills or overfills
    // the frame (often no backdrop left to find it by) and each photo is shrunk 1.2-2.5x to the working scale.
    name: 'close-up',
    folder: 'close-s320',
    what: 'generator, training domain, macro close-ups: field of view 5-10 mm where training drew 10-30, seed 320',
    profile: 'band',
    source: { kind: 'synth', seed: 320, count: 300, size: 1024, ...TRAINING_DOMAIN, fovMm: [5, 10] },
  },
  {
    name: 'real',
    folder: 'mt-test',
    what: 'magnetic-tile test split (real blowhole porosity with masks; not jewelry)',
    profile: 'band',
    source: { kind: 'import', adapter: 'magnetic-tile', split: 'test' },
  },
];

export function synthCommand(set: EvalSet, root: string): string {
  const s = set.source;
  if (s.kind !== 'synth') return `npx loupe dataset import ${s.adapter} --split ${s.split} --out ${join(root, set.folder)}`;
  const flag = (name: string, v?: readonly string[]) => (v?.length ? ` --${name} ${v.join(',')}` : '');
  return `npx loupe synth --out ${join(root, set.folder)} --count ${s.count} --seed ${s.seed} --size ${s.size}` +
    flag('exclude-backgrounds', s.excludeBackgrounds) + flag('exclude-metals', s.excludeMetals) +
    flag('backgrounds', s.backgrounds) + flag('metals', s.metals) + (s.fovMm ? ` --fov-mm ${s.fovMm[0]}-${s.fovMm[1]}` : '');
}

/** Makes a set's folder when it is missing. Returns false when its source is absent (the shared datasets). */
export async function ensureSet(set: EvalSet, root: string, log: (line: string) => void): Promise<boolean> {
  const dir = join(root, set.folder);
  if (existsSync(join(dir, 'manifest.jsonl'))) return true;
  log(`making ${set.name}: ${synthCommand(set, root)}`);
  const s = set.source;
  if (s.kind === 'synth') {
    const { runSynthCli } = await import('../../datasets/synth/cli.js');
    await runSynthCli({
      out: dir, count: s.count, seed: s.seed, size: s.size, coverKinds: false, progress: false,
      ...(s.excludeBackgrounds ? { excludeBackgrounds: [...s.excludeBackgrounds] } : {}),
      ...(s.excludeMetals ? { excludeMetals: [...s.excludeMetals] } : {}),
      ...(s.backgrounds ? { backgrounds: [...s.backgrounds] } : {}),
      ...(s.metals ? { metals: [...s.metals] } : {}),
      ...(s.fovMm ? { fovMm: [s.fovMm[0], s.fovMm[1]] as [number, number] } : {}),
    });
    return true;
  }
  const { importDataset, SourceMissingError } = await import('../../datasets/adapters/index.js');
  try {
    await importDataset({ name: s.adapter, split: s.split, out: dir });
    return true;
  } catch (err) {
    if (err instanceof SourceMissingError) {
      log(`skipping ${set.name}: ${err.message}`);
      return false;
    }
    throw err;
  }
}

export interface SuiteRow {
  set: EvalSet;
  result: EvalResult;
}

const f = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? '–' : v.toFixed(digits));

/** The model card's table: one row per set, the issue's headline figures. */
export function suiteMarkdown(rows: readonly SuiteRow[]): string {
  const lines = [
    '| set | images | porosity AUROC | spacing AUROC | polish AUROC | porosity pixel AUROC | stone F1 | gap MAE mm | clean flagged (any · for a defect, retakes apart) | pore recall <0.1 / 0.1–0.3 / >0.3 mm | ms/photo (mean · p90 · slowest) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { set, result: r } of rows) {
    const bins = ['<0.1', '0.1-0.3', '>0.3'].map((b) => f(r.byPoreSizeMm.find((x) => x.bin === b)?.recall ?? null, 2)).join(' / ');
    lines.push(
      `| ${set.name} | ${r.images} | ${f(r.families.porosity.auroc)} | ${f(r.families.stone_spacing.auroc)} | ${f(r.families.polish.auroc)} | ` +
        `${f(r.pixel.porosity.auroc)} | ${f(r.stones.f1)} | ${f(r.stones.gapMaeMm)} | ${f(r.cleanFalseFlagRate, 2)} · ${f(r.cleanDefectFlagRate, 2)} | ${bins} | ${Math.round(r.timing.msPerImage)}${r.timing.msMax !== undefined ? ` · ${Math.round(r.timing.msP90!)} · ${Math.round(r.timing.msMax)}` : ''} |`,
    );
  }
  // Where polish fails, by kind: each kind's score ranking photos that hold it against polish-clean photos.
  const withKinds = rows.filter((row) => Object.values(row.result.polishKinds ?? {}).some((m) => m.positives > 0));
  if (withKinds.length > 0) {
    const kinds = Object.keys(withKinds[0]!.result.polishKinds!);
    lines.push('', `| set | ${kinds.map((k) => `${k} AUROC (photos)`).join(' | ')} |`, `|---|${kinds.map(() => '---|').join('')}`);
    for (const { set, result: r } of withKinds) {
      lines.push(`| ${set.name} | ${kinds.map((k) => `${f(r.polishKinds![k]?.auroc)} (${r.polishKinds![k]?.positives ?? 0})`).join(' | ')} |`);
    }
  }
  // How visible the polish photos' defects are (`--visibility`): each bin's AUROC against the polish-clean photos.
  const withVis = rows.filter((row) => row.result.polishVisibility?.family.some((b) => b.images > 0));
  if (withVis.length > 0) {
    const bins = withVis[0]!.result.polishVisibility!.family.map((b) => b.bin);
    lines.push('', `| set | ${bins.map((b) => `polish visibility ${b} levels: AUROC (caught / photos)`).join(' | ')} |`, `|---|${bins.map(() => '---|').join('')}`);
    for (const { set, result: r } of withVis) {
      lines.push(`| ${set.name} | ${r.polishVisibility!.family.map((b) => `${f(b.auroc)} (${b.caught} / ${b.images})`).join(' | ')} |`);
    }
  }
  // Where the piece mask found the piece: elsewhere the models read the whole frame, backdrop and all.
  const withMask = rows.filter((row) => row.result.pieceMask);
  if (withMask.length > 0) {
    lines.push('', '| set | piece mask found | whole frame instead (why) |', '|---|---|---|');
    for (const { set, result: r } of withMask) {
      const why = countsText(r.pieceMask!.fallbacks);
      lines.push(`| ${set.name} | ${r.pieceMask!.found} of ${r.images} | ${why || '–'} |`);
    }
  }
  return lines.join('\n');
}

export interface SuiteOptions {
  root: string;
  out: string;
  modelsDir: string;
  model?: string;
  make: boolean;
  only?: string[];
  /** Bin polish photos by how visible their defects are (`loupe eval --visibility`; synthetic sets only). */
  visibility?: boolean;
  /** Also write each set's failure gallery (`loupe eval --failures`) into `<dir>/<set name>/`. */
  failures?: { dir: string; perKind: number; command: string };
  log: (line: string) => void;
}

export async function runSuite(o: SuiteOptions): Promise<SuiteRow[]> {
  // A misspelt set would otherwise be skipped in silence and the run look complete.
  const unknown = (o.only ?? []).filter((name) => !EVAL_SETS.some((set) => set.name === name));
  if (unknown.length > 0) throw new Error(`unknown set ${unknown.join(', ')} (sets: ${EVAL_SETS.map((set) => set.name).join(', ')})`);
  await mkdir(o.out, { recursive: true });
  const rows: SuiteRow[] = [];
  for (const set of EVAL_SETS) {
    if (o.only && !o.only.includes(set.name)) continue;
    const dir = join(o.root, set.folder);
    if (!existsSync(join(dir, 'manifest.jsonl'))) {
      if (!o.make) {
        o.log(`skipping ${set.name}: ${dir} has no manifest (make it with --make, or: ${synthCommand(set, o.root)})`);
        continue;
      }
      if (!(await ensureSet(set, o.root, o.log))) continue;
    }
    o.log(`evaluating ${set.name} (${dir}, profile ${set.profile})`);
    const evalOptions = {
      data: dir,
      out: join(o.out, `${set.name}.json`),
      modelsDir: o.modelsDir,
      profile: set.profile,
      ...(o.model ? { model: o.model } : {}),
      ...(o.visibility ? { visibility: true } : {}),
      warmUp: true,
    };
    if (!o.failures) {
      rows.push({ set, result: await runEval(evalOptions) });
      continue;
    }
    // The gallery needs every photo's report, so only this path keeps them (a set's reports carry their masks).
    const { result, images } = await runEvalWithImages(evalOptions);
    const outDir = join(o.failures.dir, set.name);
    await writeFailureGallery({ data: dir, outDir, perKind: o.failures.perKind, result, images, command: o.failures.command });
    o.log(`failure gallery: ${join(outDir, 'index.md')}`);
    rows.push({ set, result });
  }
  await writeSuiteMd(await withEarlierRows(rows, o.out), o.out, o.root);
  return rows;
}

/** suite.md: the model card's tables for `all` and how each set was made. */
export async function writeSuiteMd(all: readonly SuiteRow[], out: string, root: string): Promise<void> {
  const md = [
    `# Evaluation suite: ${all[0]?.result.model.id ?? '?'}@${all[0]?.result.model.version ?? '?'}`,
    '',
    suiteMarkdown(all),
    '',
    ...all.map(({ set }) => `- **${set.name}**: ${set.what}. Made by \`${synthCommand(set, root)}\`.`),
    '',
  ].join('\n');
  await writeFile(join(out, 'suite.md'), md);
}

/**
 * `rows` plus the sets an earlier run wrote to `out` for the same model file, in EVAL_SETS order: `--only` re-runs
 * some sets, and suite.md (the model card's table) must still show the others rather than lose them.
 */
export async function withEarlierRows(rows: readonly SuiteRow[], out: string): Promise<SuiteRow[]> {
  const model = rows[0]?.result.model;
  const all: SuiteRow[] = [];
  for (const set of EVAL_SETS) {
    const fresh = rows.find((r) => r.set.name === set.name);
    if (fresh) {
      all.push(fresh);
      continue;
    }
    const file = join(out, `${set.name}.json`);
    if (!model || !existsSync(file)) continue;
    const earlier = EvalResultSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (earlier.success && earlier.data.model.id === model.id && earlier.data.model.version === model.version && earlier.data.model.sha256 === model.sha256) {
      all.push({ set, result: earlier.data });
    }
  }
  return all;
}
