import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWatcher } from '../../cli/commands/watch.js';
import { testApp, type TestApp } from '../api/support/test-app.js';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { redisAnswers, skipUnless } from '../core/support/env.js';

const SAMPLE = fileURLToPath(new URL('../../datasets/samples/images/s424242-000001.jpg', import.meta.url));
const redisUp = await redisAnswers();

describe.skipIf(skipUnless(redisUp, 'Redis'))('loupe watch: tethered-camera folder → uploads', () => {
  let tdb: TestDatabase;
  let t: TestApp;
  let base: string;
  let key: string;
  let dir: string;

  beforeAll(async () => {
    tdb = await sqliteTestDatabase();
    t = await testApp(tdb);
    key = (await t.createKey('station', 'tether', 'qc-7')).key;
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-watch-'));
  });
  afterAll(async () => {
    await t?.close();
    await tdb?.drop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const options = () => ({ dir, url: base, key, station: 'qc-7', profile: 'ring', metal: 'au750_rose', tree: 'T-9', views: ['top', 'side'], settleMs: 200, groupMs: 60_000 });

  it('waits for files to be fully written, uploads a piece once its views are there, and never re-uploads after a restart', async () => {
    const bytes = await fs.readFile(SAMPLE);
    const lines: string[] = [];
    const w = createWatcher(options(), (l) => lines.push(l));
    let now = 1_000_000;
    // The camera software is still writing the top view; the side view is not there yet; other files are ignored.
    await fs.writeFile(path.join(dir, 'R-77_top.jpg'), bytes.subarray(0, 1000));
    await fs.writeFile(path.join(dir, 'notes.txt'), 'not a photo');
    expect(await w.scanOnce(now)).toEqual([]);
    now += 500;
    await fs.appendFile(path.join(dir, 'R-77_top.jpg'), bytes.subarray(1000));
    expect(await w.scanOnce(now)).toEqual([]); // size changed: not settled
    now += 500;
    expect(await w.scanOnce(now)).toEqual([]); // settled, but the side view is missing and group-ms has not passed
    await fs.writeFile(path.join(dir, 'R-77_side.jpg'), bytes);
    now += 100;
    expect(await w.scanOnce(now)).toEqual([]);
    now += 300;
    const up = await w.scanOnce(now);
    expect(up).toHaveLength(1);
    expect(up[0]).toMatchObject({ piece: 'R-77', status: 202 });
    const stored = (await t.inject({ method: 'GET', url: `/v1/inspections/${up[0]!.inspectionId}` })).json();
    expect(stored).toMatchObject({ pieceId: 'R-77', stationId: 'qc-7', tree: 'T-9', metal: 'au750_rose' });
    expect(stored.views.map((v: { view: string }) => v.view).sort()).toEqual(['side', 'top']);
    const topView = stored.views.find((v: { view: string }) => v.view === 'top');
    expect(topView.photo.bytes).toBe(bytes.length);

    // A restart reads the state file: nothing goes up twice.
    const again = createWatcher(options(), (l) => lines.push(l));
    for (let k = 0; k < 3; k++) expect(await again.scanOnce(now + 1000 * (k + 1))).toEqual([]);
    const list = (await t.inject({ method: 'GET', url: '/v1/inspections?piece=R-77' })).json();
    expect(list.items).toHaveLength(1);
    expect(lines.some((l) => l.includes('R-77: top, side -> inspection'))).toBe(true);
  });

  it('uploads a lone photo after group-ms, and records a refused upload instead of retrying it forever', async () => {
    const bytes = await fs.readFile(SAMPLE);
    const w = createWatcher({ ...options(), views: [], groupMs: 1000, station: 'qc-8' }, () => {});
    await fs.writeFile(path.join(dir, 'R-78_top.jpg'), bytes);
    let now = 5_000_000;
    await w.scanOnce(now);
    now += 300;
    expect(await w.scanOnce(now)).toEqual([]);
    now += 1000;
    const up = await w.scanOnce(now);
    // The key is bound to qc-7: uploading for qc-8 is refused (403), recorded, and not tried again.
    expect(up.map((u) => u.status)).toEqual([403]);
    expect(await w.scanOnce(now + 5000)).toEqual([]);
    const state = JSON.parse(await fs.readFile(path.join(dir, '.loupe-watch.json'), 'utf8'));
    expect(state.files['R-78_top.jpg'].error).toMatch(/^403/);
  });
});
