import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditDal } from '../../core/store/audit-dal.js';
import { inspectionsDal } from '../../core/store/inspections-dal.js';
import { keysDal } from '../../core/store/keys-dal.js';
import { modelsDal } from '../../core/store/models-dal.js';
import { webhooksDal } from '../../core/store/webhooks-dal.js';
import { uploadBody } from '../api/support/multipart.js';
import { jpegPhoto } from '../api/support/photos.js';
import { sampleMetadata, testApp, type TestApp } from '../api/support/test-app.js';
import { DATABASES, type TestDatabase } from './support/databases.js';
import { postgresAnswers, redisAnswers, skipUnless } from './support/env.js';
import { fakeReport } from './support/report-fixture.js';

const redisUp = await redisAnswers();
const pgUp = await postgresAnswers();
const LOUPE = fileURLToPath(new URL('../../cli/bin/loupe.js', import.meta.url));
const APPENDER = fileURLToPath(new URL('./support/audit-append.ts', import.meta.url));

for (const { name, create } of DATABASES) {
  const skip = skipUnless(redisUp, 'Redis') || (name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'));
  describe.skipIf(skip)(`hash-chained audit trail on ${name}`, () => {
    let db: TestDatabase;
    let t: TestApp;

    beforeAll(async () => {
      db = await create();
      t = await testApp(db);
    });
    afterAll(async () => {
      await t?.close();
      await db?.drop();
    });

    const verifyCli = () => {
      const r = spawnSync(process.execPath, [LOUPE, 'audit', 'verify'], { env: { ...process.env, ...t.env }, encoding: 'utf8', timeout: 60_000 });
      return { status: r.status, out: `${r.stdout}${r.stderr}` };
    };

    it('records a real history (keys, uploads, verdicts, webhooks, model promotion) and `loupe audit verify` passes', async () => {
      const station = await t.createKey('station', 'qc-audit');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { body, contentType } = uploadBody(sampleMetadata({ pieceId: `AUD-${i}` }), [{ data: await jpegPhoto(320, 240, 50 + i) }]);
        const res = await t.app.inject({ method: 'POST', url: '/v1/inspections', payload: body, headers: { 'content-type': contentType, ...station.auth } });
        expect(res.statusCode).toBe(202);
        ids.push(res.json().id);
      }
      const dal = inspectionsDal(db.handle.db);
      const row = (await dal.get(ids[0]!))!;
      const report = fakeReport({ porous: true, sha256: row.views[0]!.photo.sha256 });
      await dal.complete(ids[0]!, {
        verdict: 'fail',
        summary: { verdict: 'fail', reasons: ['top: porosity fail'], missingViews: [], profile: report.profile, models: report.models, timingsMs: {} },
        views: [{ n: 0, verdict: 'fail', report }],
        findings: [],
      });
      await webhooksDal(db.handle.db).create({ url: 'http://127.0.0.1:9/hook', events: ['inspection.fail'] }, { actor: 'admin:test' });
      await modelsDal(db.handle.db).recordLoaded([{ id: 'loupe-seg', version: '9.9.9', sha256: 'c'.repeat(64), sizeBytes: 10, manifest: {} }]);
      await modelsDal(db.handle.db).recordLoaded([{ id: 'loupe-seg', version: '9.9.9', sha256: 'c'.repeat(64), sizeBytes: 10, manifest: {} }]);
      await keysDal(db.handle.db).revoke(station.id, { actor: 'admin:test' });

      const events = await auditDal(db.handle.db).list({ limit: 1000 });
      const actions = events.map((e) => e.action);
      for (const a of ['key.bootstrap', 'key.create', 'inspection.upload', 'inspection.verdict', 'webhook.create', 'model.promote', 'key.revoke']) {
        expect(actions, a).toContain(a);
      }
      expect(actions.filter((a) => a === 'model.promote')).toHaveLength(1);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      const verdict = events.find((e) => e.action === 'inspection.verdict')!;
      expect(verdict.data).toMatchObject({ verdict: 'fail', models: [{ id: 'loupe-seg', sha256: 'b'.repeat(64) }], photos: [{ sha256: row.views[0]!.photo.sha256 }] });

      expect(await auditDal(db.handle.db).verify()).toMatchObject({ ok: true, events: events.length, problem: null });
      const cli = verifyCli();
      expect(cli.status, cli.out).toBe(0);
      expect(cli.out).toMatch(new RegExp(`audit chain intact: ${events.length} events`));
    });

    it('names the event whose row was edited in the database, and the event after a deleted one', async () => {
      const target = (await auditDal(db.handle.db).list({ limit: 1000 })).find((e) => e.action === 'inspection.verdict')!;
      // Someone "softens" a verdict in the database.
      const tampered = JSON.stringify({ ...target.data, verdict: 'pass' });
      await sql`update audit_events set data = ${tampered} where seq = ${target.seq}`.execute(db.handle.db);
      const cli = verifyCli();
      expect(cli.status).toBe(1);
      expect(cli.out).toContain(`BROKEN at event ${target.seq} (changed)`);
      expect(cli.out).toContain('inspection.verdict');
      await sql`update audit_events set data = ${JSON.stringify(target.data)} where seq = ${target.seq}`.execute(db.handle.db);
      expect((await auditDal(db.handle.db).verify()).ok).toBe(true);

      // A re-hashed edit moves the break to the next event, which no longer links.
      await sql`update audit_events set actor = ${'worker-x'}, hash = ${'e'.repeat(64)} where seq = ${target.seq}`.execute(db.handle.db);
      const rehashed = await auditDal(db.handle.db).verify();
      expect(rehashed.problem).toMatchObject({ seq: target.seq, kind: 'changed' });
      await sql`update audit_events set actor = ${target.actor}, hash = ${target.hash} where seq = ${target.seq}`.execute(db.handle.db);

      await sql`delete from audit_events where seq = ${target.seq}`.execute(db.handle.db);
      const del = await auditDal(db.handle.db).verify();
      expect(del.problem).toMatchObject({ seq: target.seq + 1, kind: 'deleted_before' });
      expect(del.problem!.message).toContain(`event ${target.seq} deleted`);
      expect(verifyCli().out).toContain(`BROKEN at event ${target.seq + 1}`);
    });

    it('keeps one chain when two processes and this one append at the same time', async () => {
      const fresh = await create();
      try {
        const env = { ...process.env, DATABASE_URL: fresh.url, LOG_LEVEL: 'silent' };
        const child = (label: string) =>
          new Promise<number | null>((resolve) => {
            const p = spawn(process.execPath, ['--import', 'tsx', APPENDER, label, '25'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
            p.on('exit', resolve);
          });
        const audit = auditDal(fresh.handle.db);
        const local = (async () => {
          for (let i = 0; i < 25; i++) await audit.append(fresh.handle.db, { actor: 'test:local', action: 'test.append', subjectType: 'test', subjectId: `l-${i}`, data: { i } });
        })();
        const codes = await Promise.all([child('a'), child('b'), local]);
        expect(codes.slice(0, 2)).toEqual([0, 0]);
        const r = await audit.verify();
        expect(r).toMatchObject({ ok: true, events: 75 });
        const seqs = (await audit.list({ limit: 1000 })).map((e) => e.seq);
        expect(seqs).toEqual(Array.from({ length: 75 }, (_, i) => i + 1));
      } finally {
        await fresh.drop();
      }
    });
  });
}
