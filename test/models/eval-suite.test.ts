import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../../datasets/synth/generate.js';
import { EvalResultSchema } from '../../models/eval/eval-result.schema.js';
import { EVAL_SETS, runSuite, suiteMarkdown, synthCommand, withEarlierRows } from '../../models/eval/suite.js';

// `loupe eval-suite --only` re-runs some sets; the suite table a model card quotes must keep the sets it did not re-run,
// and only those made with the same model.
const EVAL = (version: string) => join(import.meta.dirname, '../../models/loupe-seg', version, 'eval');
const setNamed = (name: string) => EVAL_SETS.find((s) => s.name === name)!;
const result = async (version: string, set: string) => EvalResultSchema.parse(JSON.parse(await readFile(join(EVAL(version), `${set}.json`), 'utf8')));

describe('eval suite table', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it("keeps an earlier run's sets of the same model and drops another version's", async () => {
    const out = await mkdtemp(join(tmpdir(), 'loupe-suite-'));
    dirs.push(out);
    await copyFile(join(EVAL('1.4.0'), 'shifted.json'), join(out, 'shifted.json'));
    await copyFile(join(EVAL('1.3.0'), 'real.json'), join(out, 'real.json')); // same seg network, another version
    const fresh = [{ set: setNamed('in-distribution'), result: await result('1.4.0', 'in-distribution') }];

    const rows = await withEarlierRows(fresh, out);
    expect(rows.map((r) => r.set.name)).toEqual(['in-distribution', 'shifted']);
    const table = suiteMarkdown(rows);
    expect(table).toMatch(/^\| shifted \| 300 \| 0\.\d{3} \|/m);
    expect(table).not.toContain('| real |');

    await copyFile(join(EVAL('1.4.0'), 'real.json'), join(out, 'real.json'));
    expect((await withEarlierRows(fresh, out)).map((r) => r.set.name)).toEqual(['in-distribution', 'shifted', 'real']);
  });

  it('adds a table of polish AUROC by kind, for the sets that hold polish photos', async () => {
    const rows = await Promise.all(['in-distribution', 'real'].map(async (name) => ({ set: setNamed(name), result: await result('1.4.1', name) })));
    const table = suiteMarkdown(rows);
    expect(table).toMatch(/^\| set \| scratch AUROC \(photos\) \| haze AUROC/m);
    expect(table).toMatch(/^\| in-distribution \| 0\.\d{3} \(\d+\) \| 0\.\d{3} \(\d+\) \|/m);
    // The real set (magnetic tiles) has no polish photos: it keeps its row in the main table only.
    expect(table.split('\n').filter((line) => line.startsWith('| real |'))).toHaveLength(1);
    expect(table).not.toContain('visibility');
  });

  it('adds a table of where the piece mask found the piece, for the runs that counted it', async () => {
    const base = await result('1.4.1', 'in-distribution');
    const table = suiteMarkdown([
      { set: setNamed('in-distribution'), result: { ...base, pieceMask: { found: 250, fallbacks: { no_outline: 12, low_contrast: 38 } } } },
      { set: setNamed('real'), result: await result('1.4.1', 'real') },
    ]);
    expect(table).toMatch(/^\| in-distribution \| 250 of 300 \| low_contrast 38, no_outline 12 \|$/m);
    // Results from before the count keep their main row and get none here.
    expect(table.split('\n').filter((line) => line.startsWith('| real |'))).toHaveLength(1);
    expect(suiteMarkdown([{ set: setNamed('in-distribution'), result: base }])).not.toContain('piece mask');
  });

  it('adds a table of polish AUROC by visibility for the runs made with --visibility', async () => {
    const base = await result('1.4.1', 'in-distribution');
    const bins = [
      { bin: '<4', images: 2, auroc: 0.5, caught: 1 },
      { bin: '4-10', images: 19, auroc: 0.669, caught: 7 },
      { bin: '10-25', images: 34, auroc: 0.82, caught: 17 },
      { bin: '>=25', images: 67, auroc: null, caught: 28 },
    ];
    const withVis = { ...base, polishVisibility: { measure: 'p90', family: bins, kinds: {} } };
    const table = suiteMarkdown([
      { set: setNamed('in-distribution'), result: withVis },
      { set: setNamed('real'), result: await result('1.4.1', 'real') },
    ]);
    expect(table).toMatch(/^\| set \| polish visibility <4 levels: AUROC \(caught \/ photos\) \|/m);
    expect(table).toContain('| in-distribution | 0.500 (1 / 2) | 0.669 (7 / 19) | 0.820 (17 / 34) | – (28 / 67) |');
    expect(table.split('\n').filter((line) => line.startsWith('| real |'))).toHaveLength(1);
    // A set with no polish photos gets no visibility row even when run with --visibility (all its bins are empty).
    const realWithVis = { ...(await result('1.4.1', 'real')), polishVisibility: { measure: 'p90', family: bins.map((b) => ({ ...b, images: 0, caught: 0, auroc: null })), kinds: {} } };
    const again = suiteMarkdown([{ set: setNamed('real'), result: realWithVis }]);
    expect(again).not.toContain('visibility');
  });

  it('names the command that makes each synthetic set, the close-ups with their field of view', () => {
    expect(synthCommand(setNamed('close-up'), '/d')).toBe(
      'npx loupe synth --out /d/close-s320 --count 300 --seed 320 --size 1024 --exclude-backgrounds velvet --exclude-metals au750_rose --fov-mm 5-10',
    );
    expect(synthCommand(setNamed('shifted'), '/d')).toBe('npx loupe synth --out /d/shift-s301 --count 300 --seed 301 --size 1024 --backgrounds velvet --metals au750_rose');
  });

  it('refuses a set name it does not know rather than skip it', async () => {
    const log: string[] = [];
    await expect(runSuite({ root: '/nonexistent', out: '/nonexistent/out', modelsDir: '/nonexistent', make: false, only: ['in-distribution', 'closeup'], log: (l) => log.push(l) })).rejects.toThrow(
      'unknown set closeup (sets: in-distribution, 12mp, shifted, close-up, real)',
    );
    expect(log).toEqual([]);
  });

  it("writes each set's failure gallery beside its metrics when asked, naming the command that remakes it", async () => {
    const root = await mkdtemp(join(tmpdir(), 'loupe-suite-sets-'));
    dirs.push(root);
    const set = setNamed('in-distribution');
    await generateDataset({ out: join(root, set.folder), count: 4, seed: 33, size: 512, workers: 1, progress: false, domain: {} });
    const out = join(root, 'eval');
    const command = 'npx loupe eval-suite --sets ROOT --out OUT --failures GALLERY';
    const rows = await runSuite({
      root,
      out,
      modelsDir: join(import.meta.dirname, '..', 'fixtures', 'models'),
      make: false,
      only: ['in-distribution'],
      failures: { dir: join(root, 'failures'), perKind: 2, command },
      log: () => {},
    });
    expect(rows.map((r) => r.set.name)).toEqual(['in-distribution']);
    expect(EvalResultSchema.parse(JSON.parse(await readFile(join(out, 'in-distribution.json'), 'utf8'))).images).toBe(4);
    const index = await readFile(join(root, 'failures', 'in-distribution', 'index.md'), 'utf8');
    expect(index).toContain(`# Failure gallery: loupe-fixture@`);
    expect(index).toContain(command);
    // Every overlay the index shows was written next to it.
    const shown = [...index.matchAll(/\]\(([^)]+\.jpg)\)/g)].map((m) => m[1]!);
    expect(shown.length).toBeGreaterThan(0);
    for (const file of shown) expect(existsSync(join(root, 'failures', 'in-distribution', file))).toBe(true);
    expect(existsSync(join(root, 'failures', 'shifted'))).toBe(false);
  }, 180_000);
});
