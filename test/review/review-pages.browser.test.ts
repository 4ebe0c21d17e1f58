import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reviewsDal } from '../../core/reports/reviews-dal.js';
import { auditDal } from '../../core/store/audit-dal.js';
import { checkDataset } from '../../datasets/check.js';
import { exportReviews, labelsOf } from '../../datasets/export/export-reviews.js';
import { loadManifest } from '../../datasets/manifest-io.js';
import { testApp, type TestApp } from '../api/support/test-app.js';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { docPicturesDir } from '../core/support/doc-pictures.js';
import { redisAnswers, skipUnless } from '../core/support/env.js';
import { spawnWorker, type WorkerChild } from '../e2e/support/processes.js';
import { modelsForE2e } from '../e2e/support/stack.js';
import { openBrowser, skipWithoutChromium, type BrowserSession } from './support/chromium.js';
import { seedFlagged } from './support/flagged.js';

/**
 * Both pages in real Chromium at a tablet's size (820x1180), keyboard first: an inspector signs in, opens the first
 * flagged piece, toggles the overlay, rejects a finding with the keyboard, draws a missed-defect box and sets a
 * disposition; the database holds exactly that and the audit trail names the inspector; the export of it passes
 * `dataset check` and reads back the same. An operator uploads a piece on the station page and a real worker
 * process gives it a verdict. Saves docs/review-page.png and docs/station-page.png.
 */
const TABLET = { width: 820, height: 1180 };
const DOCS = docPicturesDir();
const SAMPLE = fileURLToPath(new URL('../../datasets/samples/images/s424242-000000.jpg', import.meta.url));
const redisUp = await redisAnswers();
const models = modelsForE2e();
const skip = skipWithoutChromium() || skipUnless(redisUp, 'Redis');

describe.skipIf(skip)('review and station pages in Chromium', () => {
  let tdb: TestDatabase;
  let t: TestApp;
  let base: string;
  let worker: WorkerChild | undefined;
  let workerReady: Promise<WorkerChild>;
  let browser: BrowserSession | undefined;
  let inspector: Awaited<ReturnType<TestApp['createKey']>>;
  let station: Awaited<ReturnType<TestApp['createKey']>>;
  let first: string;
  let exportDir: string;

  beforeAll(async () => {
    tdb = await sqliteTestDatabase();
    t = await testApp(tdb, { MODELS_DIR: models.dir });
    // The worker loads its model while the review test runs; the station test waits for it.
    workerReady = spawnWorker({ ...t.env, WORKER_CONCURRENCY: '1', ORT_INTRA_OP_THREADS: '1' }, 90_000);
    workerReady.then((w) => (worker = w)).catch(() => {});
    inspector = await t.createKey('inspector', 'ines');
    station = await t.createKey('station', 'bench-2', 'qc-2');
    const db = tdb.handle.db;
    first = (
      await seedFlagged(db, t.photos, {
        pieceId: 'R-2001', at: '2026-02-01T08:00:00.000Z', metal: 'au750_yellow', verdict: 'fail', sku: 'RING-HE-3', stationId: 'qc-1', casting: { tree: 'T-42', caster: 'Ana' },
        findings: [{ family: 'porosity', kind: 'gas_void', sizeMm: 0.31 }, { family: 'porosity', kind: 'pinhole', sizeMm: 0.07 }, { family: 'polish', kind: 'scratch', sizeMm: 1.4 }],
      })
    ).id;
    // The second piece is also flagged for porosity the way a model fine-tuned on photos labelled per image flags one:
    // its score over the gate, no pore outlined, only where the score was read.
    await seedFlagged(
      db,
      t.photos,
      { pieceId: 'R-2002', at: '2026-02-01T09:00:00.000Z', metal: 'pt950', verdict: 'review', sku: 'RING-HE-3', stationId: 'qc-1', casting: { tree: 'T-42' }, findings: [{ family: 'polish', kind: 'haze', sizeMm: null }] },
      (r) => ({ ...r, families: { ...r.families, porosity: { ...r.families.porosity, score: 0.8, verdict: 'review', scoreAt: { cx: 520, cy: 240 } } } }),
    );
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    exportDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'loupe-review-export-'));
  });

  afterAll(async () => {
    await browser?.close();
    await (worker ?? (await workerReady.catch(() => undefined)))?.kill('SIGTERM');
    await t?.close();
    await tdb?.drop();
    if (exportDir) await fsp.rm(exportDir, { recursive: true, force: true });
  });

  it('an inspector reviews the first flagged piece with the keyboard; the database and the audit trail hold exactly that', async () => {
    browser = await openBrowser(TABLET);
    const { page, problems } = browser;
    await page.goto(`${base}/review`);
    await page.locator('#login-key').fill(inspector.key);
    await page.keyboard.press('Enter');
    await page.locator('#queue button').first().waitFor();
    expect(await page.locator('#queue button').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')))).toHaveLength(2);

    // n: the first (oldest) flagged piece.
    await page.keyboard.press('n');
    await page.locator('#findings tbody tr').first().waitFor();
    expect(await page.locator('.piece-head h1').textContent()).toBe('Piece R-2001');
    await page.locator('.view img.photo').evaluate((img: HTMLImageElement) => img.decode());
    await page.locator('.view img.overlay').evaluate((img: HTMLImageElement) => img.decode());
    expect(await page.locator('#findings tbody tr').count()).toBe(3);
    await expect.poll(() => page.locator('#findings tbody tr').first().locator('td').nth(4).textContent()).toMatch(/review ≥ .* fail ≥ .* mm/);

    // o: overlay off, then on again.
    await page.keyboard.press('o');
    expect(await page.locator('.view img.overlay').isHidden()).toBe(true);
    await page.keyboard.press('o');
    expect(await page.locator('.view img.overlay').isVisible()).toBe(true);

    // +: zoom in towards pixel level; z: zoom to the selected finding; 0: fit again.
    const zoom = () => page.locator('.viewport').first().getAttribute('data-zoom').then(Number);
    const fitZoom = await zoom();
    await page.keyboard.press('+');
    expect(await zoom()).toBeCloseTo(fitZoom * 1.5, 5);
    await page.keyboard.press('z');
    expect(await zoom()).toBeGreaterThanOrEqual(1);
    await page.keyboard.press('0');
    expect(await zoom()).toBeCloseTo(fitZoom, 5);

    // j: the second finding (the pinhole); r: reject it.
    await page.keyboard.press('j');
    const pinholeRow = page.locator('#findings tbody tr').nth(1);
    expect(await pinholeRow.getAttribute('class')).toContain('selected');
    const pinholeId = (await pinholeRow.getAttribute('data-id'))!;
    await page.keyboard.press('r');
    await expect.poll(() => pinholeRow.getAttribute('data-decision')).toBe('rejected');

    // A box dragged with the mouse opens the same form; Esc throws it away.
    await page.keyboard.press('b');
    const port = await page.locator('.viewport').first().boundingBox();
    await page.mouse.move(port!.x + 200, port!.y + 200);
    await page.mouse.down();
    await page.mouse.move(port!.x + 260, port!.y + 240, { steps: 4 });
    await page.mouse.up();
    await page.locator('#box-form').waitFor();
    expect(await page.locator('.stage rect.draft').count()).toBe(1);
    await page.keyboard.press('Escape');
    expect(await page.locator('#box-form').isHidden()).toBe(true);
    expect(await page.locator('.stage rect.draft').count()).toBe(0);

    // b: a box for a missed defect, moved with the arrows and grown with Shift+arrows, kept with Enter.
    await page.keyboard.press('b');
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    for (let i = 0; i < 2; i++) await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Enter');
    await page.locator('#box-form').waitFor();
    // The form takes the keyboard too: family (focused, porosity first), Tab, kind by type-ahead, Tab, size, Enter.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('box-family');
    await page.keyboard.press('Tab');
    await page.keyboard.type('g');
    expect(await page.locator('#box-kind').inputValue()).toBe('gas_void');
    await page.keyboard.press('Tab');
    await page.keyboard.type('0.25');
    await page.keyboard.press('Enter');
    await page.locator('#added li').first().waitFor();
    await page.locator('.view img.photo').evaluate((img: HTMLImageElement) => img.decode());

    await page.screenshot({ path: path.join(DOCS, 'review-page.png'), fullPage: true });

    // 2: rework (polish), a note, Enter.
    await page.keyboard.press('2');
    await page.keyboard.type('scratch on the shank; pinhole is dust');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#piece').getAttribute('data-recorded')).toBe('rework:polish');

    // The page moved on to the next piece; the database holds exactly the decisions made.
    const rv = await reviewsDal(tdb.handle.db).ofInspection(first);
    expect(rv.header).toMatchObject({ disposition: 'rework', rework: 'polish', note: 'scratch on the shank; pinhole is dust', reviewer_key_id: inspector.id });
    expect(rv.findings.map((f) => ({ id: f.finding_id, decision: f.decision, by: f.reviewer_key_id }))).toEqual([{ id: pinholeId, decision: 'rejected', by: inspector.id }]);
    expect(rv.added).toHaveLength(1);
    expect(rv.added[0]).toMatchObject({ view_n: 0, family: 'porosity', kind: 'gas_void', size_mm: 0.25, reviewer_key_id: inspector.id });
    const [x0, y0, x1, y1] = [rv.added[0]!.bbox_x0, rv.added[0]!.bbox_y0, rv.added[0]!.bbox_x1, rv.added[0]!.bbox_y1].map(Number);
    expect(x1 - x0).toBeGreaterThan(1);
    expect(y1 - y0).toBeGreaterThan(1);
    expect(x0 >= 0 && y0 >= 0 && x1 <= 800 && y1 <= 600).toBe(true);
    const events = (await auditDal(tdb.handle.db).ofSubject('inspection', first)).filter((e) => e.action.startsWith('review.'));
    expect(events.map((e) => e.action)).toEqual(['review.finding', 'review.missed_finding', 'review.disposition']);
    expect(events.every((e) => e.actor === 'inspector:ines' && e.actorKeyId === inspector.id && e.data.models === 'loupe-seg@1.0.0')).toBe(true);

    // The next piece: porosity flagged with nothing outlined is a finding like any other, its box where the score was
    // read; selected and zoomed to (z) like any other.
    await expect.poll(() => page.locator('.piece-head h1').textContent()).toBe('Piece R-2002');
    const flagRow = page.locator('#findings tbody tr', { hasText: 'porosity · casting_defect' });
    expect(await flagRow.locator('td').nth(3).textContent()).toBe('nothing outlined · score 0.8 ≥ 0.5 · read at the box\'s centre');
    await flagRow.click();
    const fitted = await zoom();
    await page.keyboard.press('z');
    expect(await zoom()).toBeGreaterThan(fitted * 2);
    expect(await page.locator('.stage rect.selected').count()).toBe(1);
    expect(problems).toEqual([]);
  });

  it('exports those decisions: dataset check passes and the labels read back the same', async () => {
    const result = await exportReviews({ db: tdb.handle.db, photos: t.photos, out: exportDir, force: true });
    expect(result.entries).toHaveLength(1);
    const check = await checkDataset(exportDir, { deep: true });
    expect(check.problems.filter((p) => p.severity === 'error')).toEqual([]);
    const [e] = result.entries;
    expect(e!.labels).toEqual({ porosity: true, stone_spacing: false, polish: true });
    expect(e!.defects.map((d) => `${d.family}/${d.kind}/${(d as { review?: string }).review}`).sort()).toEqual(['polish/scratch/unreviewed', 'porosity/gas_void/added', 'porosity/gas_void/unreviewed']);
    expect((e as { negatives?: Array<{ kind: string }> }).negatives?.map((n) => n.kind)).toEqual(['pinhole']);
    expect((await loadManifest(exportDir)).map(labelsOf)).toEqual(result.entries.map(labelsOf));
  });

  it('an operator uploads a piece on the station page and sees its verdict from a real worker', async () => {
    await browser?.close();
    browser = await openBrowser(TABLET);
    const { page, problems } = browser;
    await page.goto(`${base}/station`);
    await page.locator('#login-key').fill(station.key);
    await page.keyboard.press('Enter');
    await page.locator('body[data-ready=true]').waitFor();
    expect(await page.locator('input[name=stationId]').inputValue()).toBe('qc-2');
    await page.locator('input[name=pieceId]').fill('R-3001');
    await page.locator('select[name=profile]').selectOption('band');
    await page.locator('select[name=metal]').selectOption('au750_yellow');
    await page.locator('input[name=tree]').fill('T-43');
    await page.locator('input[name=caster]').fill('Ana');
    await page.locator('input[name=mmPerPx]').fill('0.0118189');
    expect(await page.locator('input[type=file][data-view=top]').getAttribute('capture')).toBe('environment');
    await page.locator('input[type=file][data-view=top]').setInputFiles(SAMPLE);
    await workerReady;
    await page.locator('#submit').click();
    await expect.poll(() => page.locator('#result').getAttribute('data-verdict'), { timeout: 90_000, interval: 250 }).toMatch(/^(pass|review|fail|retake)$/);
    const id = (await page.locator('#result').getAttribute('data-inspection'))!;
    const stored = await t.inject({ method: 'GET', url: `/v1/inspections/${id}` });
    expect(stored.json()).toMatchObject({ status: 'done', pieceId: 'R-3001', stationId: 'qc-2', tree: 'T-43' });
    const verdict = stored.json().verdict as string;
    expect(await page.locator('#verdict').textContent()).toBe(verdict.toUpperCase());
    // A band needs top and oblique: with the top only, the reason names the missing view.
    expect(await page.locator('#reasons').textContent()).toMatch(/oblique/);
    const style = await page.locator('#verdict').evaluate((el) => ({ size: parseFloat(getComputedStyle(el).fontSize), bg: getComputedStyle(el).backgroundColor }));
    expect(style.size).toBeGreaterThanOrEqual(64);
    const colours: Record<string, string> = { pass: 'rgb(47, 191, 113)', review: 'rgb(245, 183, 0)', fail: 'rgb(255, 69, 58)', retake: 'rgb(169, 112, 255)' };
    expect(style.bg).toBe(colours[verdict]);
    await page.screenshot({ path: path.join(DOCS, 'station-page.png'), fullPage: true });

    // The casting context is remembered for the next piece; the piece id is not.
    await page.locator('#next-piece').click();
    await page.reload();
    await page.locator('body[data-ready=true]').waitFor();
    expect(await page.locator('input[name=tree]').inputValue()).toBe('T-43');
    expect(await page.locator('select[name=profile]').inputValue()).toBe('band');
    expect(await page.locator('input[name=pieceId]').inputValue()).toBe('');
    expect(problems).toEqual([]);
    expect(fs.statSync(path.join(DOCS, 'station-page.png')).size).toBeGreaterThan(10_000);
  });
});
