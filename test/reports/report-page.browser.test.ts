import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { UnrecoverableError, type Worker } from 'bullmq';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSignals, webhookNotifier } from '../../core/reports/alerts.js';
import type { Alert } from '../../core/reports/casting-report.schema.js';
import { seedHistory, type SeedSummary } from '../../core/reports/seed-history.js';
import { webhooksDal } from '../../core/store/webhooks-dal.js';
import { createWebhookEmitter } from '../../core/webhooks/emitter.js';
import { SIGNATURE_HEADER, verifySignature } from '../../core/webhooks/signature.js';
import { webhookHandler } from '../../workers/handlers/webhook.handler.js';
import { startWorkers } from '../../workers/queues.js';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { docPicturesDir } from '../core/support/doc-pictures.js';
import { IN_CI, redisAnswers, skipUnless } from '../core/support/env.js';
import { testApp, type TestApp } from '../api/support/test-app.js';

/**
 * The report page in real Chromium on a seeded history where caster Dario's porosity drifts upward: the p-chart
 * marks Dario's signal, the alert is recorded and shown, and its signed `trend.signal` webhook reaches a receiver
 * through the real queue and delivery handler. Saves casting-report.png (docs/ with LOUPE_UPDATE_DOCS=1).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const chromiumThere = fs.existsSync(CHROMIUM);
if (!chromiumThere && !IN_CI) console.warn(`[skip] no Chromium at ${CHROMIUM} (set CHROMIUM_PATH); CI fails instead of skipping`);
const redisUp = await redisAnswers();
const SCREENSHOT = path.join(docPicturesDir(), 'casting-report.png');

describe.skipIf((!chromiumThere && !IN_CI) || skipUnless(redisUp, 'Redis'))('casting report page in Chromium', () => {
  let tdb: TestDatabase;
  let t: TestApp;
  let seeded: SeedSummary;
  let workers: Worker[] = [];
  let receiver: http.Server;
  let context: BrowserContext | undefined;
  let profileDir: string;
  const received: Array<{ event: string; data: { alert: Alert } }> = [];
  const badSignatures: string[] = [];
  let created: Alert[] = [];

  beforeAll(async () => {
    tdb = await sqliteTestDatabase();
    seeded = await seedHistory(tdb.handle.db, { days: 48, seed: 20251125, driftFromDay: 32 });
    t = await testApp(tdb);

    let secret = '';
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const check = verifySignature(secret, req.headers[SIGNATURE_HEADER] as string | undefined, body);
        if (!check.ok) {
          badSignatures.push(check.reason);
          res.writeHead(401).end();
          return;
        }
        received.push(JSON.parse(body) as (typeof received)[number]);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as { port: number }).port;
    const webhooks = webhooksDal(tdb.handle.db);
    secret = (await webhooks.create({ url: `http://127.0.0.1:${port}/loupe`, events: ['trend.signal'] }, { actor: 'test' })).secret;

    const log = { info: () => {}, warn: () => {} };
    workers = startWorkers(
      t.config,
      {
        inspect: async () => {
          throw new UnrecoverableError('no inspections in this test');
        },
        webhook: webhookHandler({ webhooks, timeoutMs: 5000, log }),
      },
      () => {},
    );
    // What a worker does after an inspection completes (createSignalWatcher), called directly on the seeded history.
    created = await checkSignals(tdb.handle.db, {
      now: new Date(`${seeded.lastDay}T18:00:00Z`),
      notify: webhookNotifier(createWebhookEmitter({ db: tdb.handle.db, webhooks, queue: t.queue, log })),
    });
  });

  afterAll(async () => {
    await context?.close();
    await Promise.all(workers.map((w) => w.close()));
    await t?.close();
    await new Promise((r) => receiver?.close(r));
    await tdb?.drop();
    if (profileDir) await fsp.rm(profileDir, { recursive: true, force: true });
  });

  it('records an alert for the drifting caster and delivers its signed webhook', async () => {
    const dario = created.filter((a) => a.dimension === 'caster' && a.group === seeded.driftCaster && a.chart === 'p');
    expect(dario.length).toBeGreaterThan(0);
    expect(dario.every((a) => a.pointKey >= seeded.driftFrom && a.notifiedAt !== null)).toBe(true);
    // 3σ limits still raise the odd false alarm on a stable caster; the drifting one must stand out.
    const perCaster = new Map<string, number>();
    for (const a of created.filter((x) => x.dimension === 'caster')) perCaster.set(a.group, (perCaster.get(a.group) ?? 0) + 1);
    const [top] = [...perCaster.entries()].sort((a, b) => b[1] - a[1]);
    expect(top?.[0]).toBe(seeded.driftCaster);
    expect([...perCaster.entries()].filter(([g, n]) => g !== seeded.driftCaster && n >= top![1])).toEqual([]);
    const deadline = Date.now() + 30_000;
    while (received.length < created.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(badSignatures).toEqual([]);
    expect(received.map((b) => b.event).every((e) => e === 'trend.signal')).toBe(true);
    expect(received.map((b) => b.data.alert.id).sort()).toEqual(created.map((a) => a.id).sort());
  });

  it('shows the drifting caster’s signal on the p-chart and the alert on the page, and saves a screenshot', async () => {
    const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const manager = await t.createKey('manager', 'report-reader');
    profileDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'loupe-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1200, height: 900 },
      extraHTTPHeaders: manager.auth,
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    const res = await page.goto(`${base}/reports/casting?from=${seeded.firstDay}&to=${seeded.lastDay}&groupBy=caster`);
    expect(res?.status()).toBe(200);

    const drift = seeded.driftCaster;
    // Over time: the drifting caster's own p-chart has signal marks, all on or after the drift began.
    const marks = page.locator(`svg[data-chart="p"][data-group="${drift}"] .pt.sig`);
    expect(await marks.count()).toBeGreaterThan(0);
    const keys = await marks.evaluateAll((els) => els.map((e) => e.getAttribute('data-key') ?? ''));
    expect(keys.filter((k) => k >= seeded.driftFrom).length).toBeGreaterThan(0);
    // Casters against each other: the drifting caster is the one point beyond the limits.
    const byCaster = page.locator('svg[data-chart="p"][data-group="*"] .pt.sig');
    expect(await byCaster.evaluateAll((els) => els.map((e) => e.getAttribute('data-key')))).toEqual([drift]);
    // Groups with signals come first, and the alert list names the caster.
    expect(await page.locator('div.series').first().getAttribute('data-group')).toBe(drift);
    expect(await page.locator(`#alerts li[data-group="${drift}"][data-chart="p"]`).count()).toBeGreaterThan(0);
    expect(await page.locator(`#groups tr.flag[data-key="${drift}"]`).count()).toBe(1);

    await fsp.mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, clip: { x: 0, y: 0, width: 1200, height: 1500 }, fullPage: true });
    expect(fs.statSync(SCREENSHOT).size).toBeGreaterThan(20_000);

    // Print: the same page lays out in print media without the screen-only background.
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('figure').first().evaluate((el) => getComputedStyle(el).breakInside)).toBe('avoid');
    expect(problems).toEqual([]);
  });
});
