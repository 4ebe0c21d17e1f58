import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CastingReportSchema } from '../../core/reports/casting-report.schema.js';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { redisAnswers, skipUnless } from '../core/support/env.js';
import { testApp, type TestApp } from '../api/support/test-app.js';
import { seedFixture } from './support/history-fixture.js';

// The app factory opens a BullMQ producer; the route itself never touches Redis.
const redisUp = await redisAnswers();

describe.skipIf(skipUnless(redisUp, 'Redis'))('GET /v1/reports/casting and /reports/casting', () => {
  let tdb: TestDatabase;
  let t: TestApp;
  let manager: { authorization: string };
  const url = '/v1/reports/casting?from=2025-03-03&to=2025-03-05&groupBy=caster&interval=day';

  beforeAll(async () => {
    tdb = await sqliteTestDatabase();
    await seedFixture(tdb.handle.db);
    t = await testApp(tdb);
    manager = (await t.createKey('manager')).auth;
  });
  afterAll(async () => {
    await t?.close();
    await tdb?.drop();
  });

  it('answers a manager with the JSON report (the `to` date includes its whole day)', async () => {
    const res = await t.app.inject({ method: 'GET', url, headers: manager });
    expect(res.statusCode).toBe(200);
    const body = CastingReportSchema.parse(res.json());
    expect(body.period).toEqual({ from: '2025-03-03T00:00:00.000Z', to: '2025-03-06T00:00:00.000Z' });
    expect(body.overall).toMatchObject({ pieces: 7, defective: 3, firstPass: 3 });
    expect(body.groups.map((g) => g.key)).toEqual(['A', 'B']);
  });

  it('applies filters given as comma-separated values', async () => {
    const res = await t.app.inject({ method: 'GET', url: `${url}&caster=B,Z&scope=all`, headers: manager });
    expect(res.statusCode).toBe(200);
    expect(res.json().overall.pieces).toBe(4);
    expect(res.json().filters).toEqual({ caster: ['B', 'Z'] });
  });

  it('gives the table by group as CSV for Accept: text/csv and for format=csv', async () => {
    for (const req of [{ url, headers: { ...manager, accept: 'text/csv' } }, { url: `${url}&format=csv`, headers: manager }]) {
      const res = await t.app.inject({ method: 'GET', ...req });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      const lines = res.body.trim().split('\r\n');
      expect(lines[0]).toMatch(/^caster,pieces,defective,p,p_centre,p_ucl,p_lcl,defects,u,/);
      expect(lines.slice(1).map((l) => l.split(',').slice(0, 3).join(','))).toEqual(['A,3,1', 'B,4,2']);
    }
  });

  it('serves the printable HTML page with the charts drawn as SVG, and no script', async () => {
    const res = await t.app.inject({ method: 'GET', url: url.replace('/v1/reports/casting', '/reports/casting'), headers: manager });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('<svg class="chart control"');
    expect(res.body).toContain('data-chart="p" data-group="A"');
    expect(res.body).toContain('@media print');
    expect(res.body).not.toMatch(/<script|https?:\/\/(?!www\.w3)/);
  });

  it('refuses a bad query with 400 and says which parameter', async () => {
    for (const q of ['groupBy=colour', 'from=2025-13-01', 'scope=rust', 'from=2025-03-05&to=2025-03-01', 'nonsense=1']) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/reports/casting?${q}`, headers: manager });
      expect(res.statusCode, q).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    }
  });

  it('is for managers: no key → 401, a station key → 403, an inspector key → 403', async () => {
    expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    const station = await t.createKey('station', 'st', 'qc-1');
    expect((await t.app.inject({ method: 'GET', url, headers: station.auth })).statusCode).toBe(403);
    const inspector = await t.createKey('inspector');
    expect((await t.app.inject({ method: 'GET', url: url.replace('/v1/reports/casting', '/reports/casting'), headers: inspector.auth })).statusCode).toBe(403);
  });
});
