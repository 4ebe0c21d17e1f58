import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditDal } from '../../core/store/audit-dal.js';
import { DATABASES, type TestDatabase } from '../core/support/databases.js';
import { postgresAnswers, redisAnswers, skipUnless } from '../core/support/env.js';
import { uploadBody } from './support/multipart.js';
import { jpegPhoto } from './support/photos.js';
import { bearer, sampleMetadata, testApp, type TestApp } from './support/test-app.js';

const redisUp = await redisAnswers();
const pgUp = await postgresAnswers();
const LOUPE = fileURLToPath(new URL('../../cli/bin/loupe.js', import.meta.url));

for (const { name, create } of DATABASES) {
  const skip = skipUnless(redisUp, 'Redis') || (name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'));
  describe.skipIf(skip)(`keys, roles and sessions on ${name}`, () => {
    let db: TestDatabase;
    let t: TestApp;
    let log = '';
    let photo: Buffer;
    const seenKeys: string[] = [];

    beforeAll(async () => {
      db = await create();
      const stream = new PassThrough();
      stream.on('data', (d: Buffer) => (log += d.toString()));
      // Everything logged at the most verbose level, so a key in any log line would be caught.
      t = await testApp(db, { LOG_LEVEL: 'trace' }, { logStream: stream });
      seenKeys.push(t.adminKey);
      photo = await jpegPhoto(640, 480, 31);
    });
    afterAll(async () => {
      await t?.close();
      await db?.drop();
    });

    const upload = (headers: Record<string, string>, meta = sampleMetadata()) => {
      const { body, contentType } = uploadBody(meta, [{ data: photo }]);
      return t.app.inject({ method: 'POST', url: '/v1/inspections', payload: body, headers: { 'content-type': contentType, ...headers } });
    };

    it('answers 401 without a key, except on /healthz, /readyz (without details) and /docs', async () => {
      for (const url of ['/v1/inspections', '/v1/models', '/metrics', '/v1/keys', '/admin/queues', '/v2/unknown']) {
        const res = await t.app.inject({ method: 'GET', url });
        expect(res.statusCode, url).toBe(401);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
        expect(res.json().error).toBe('unauthenticated');
      }
      expect((await upload({})).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      const ready = await t.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json().checks.models.detail).toBe('ok');
      expect((await t.app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
    });

    it('refuses an unknown or malformed key with 401', async () => {
      const forged = `lp_abcdefghijkl_${'A'.repeat(43)}`;
      seenKeys.push(forged);
      for (const headers of [bearer(forged), bearer('nonsense'), { 'x-api-key': forged }, { authorization: 'Basic Zm9vOmJhcg==' }]) {
        expect((await t.app.inject({ method: 'GET', url: '/v1/models', headers })).statusCode).toBe(401);
      }
    });

    it('checks the role per route: a station key on a manager route is 403, on its own routes 2xx', async () => {
      const station = await t.createKey('station', 'qc-7 camera');
      seenKeys.push(station.key);
      const forbidden = await t.app.inject({ method: 'GET', url: '/metrics', headers: station.auth });
      expect(forbidden.statusCode).toBe(403);
      expect(forbidden.json()).toMatchObject({ error: 'forbidden' });
      expect(forbidden.json().message).toMatch(/needs role manager or admin/);
      expect((await t.app.inject({ method: 'GET', url: '/v1/keys', headers: station.auth })).statusCode).toBe(403);
      expect((await t.app.inject({ method: 'GET', url: '/admin/queues', headers: station.auth })).statusCode).toBe(403);
      const up = await upload(station.auth);
      expect(up.statusCode, up.body).toBe(202);
      expect((await t.app.inject({ method: 'GET', url: `/v1/inspections/${up.json().id}`, headers: station.auth })).statusCode).toBe(200);

      const manager = await t.createKey('manager', 'Maria');
      seenKeys.push(manager.key);
      expect((await t.app.inject({ method: 'GET', url: '/metrics', headers: manager.auth })).statusCode).toBe(200);
      expect((await upload(manager.auth)).statusCode).toBe(403);
      // x-api-key works as well as Authorization.
      expect((await t.app.inject({ method: 'GET', url: '/metrics', headers: { 'x-api-key': manager.key } })).statusCode).toBe(200);
    });

    it('names the key holder in the audit trail, and binds a station key to its station', async () => {
      const bound = await t.createKey('station', 'qc-1 camera', 'qc-1');
      seenKeys.push(bound.key);
      const ok = await upload(bound.auth, sampleMetadata({ stationId: 'qc-1', pieceId: 'AUTH-1' }));
      expect(ok.statusCode).toBe(202);
      const events = await auditDal(db.handle.db).ofSubject('inspection', ok.json().id);
      expect(events[0]).toMatchObject({ action: 'inspection.upload', actor: 'station:qc-1 camera', actorKeyId: bound.id });
      const wrong = await upload(bound.auth, sampleMetadata({ stationId: 'qc-2', pieceId: 'AUTH-2' }));
      expect(wrong.statusCode).toBe(403);
      expect(wrong.json().error).toBe('wrong_station');
    });

    it('creates keys through the admin API (shown once), lists them without secrets, and a revoked key gets 401', async () => {
      const made = await t.inject({ method: 'POST', url: '/v1/keys', payload: { name: 'Ines', role: 'inspector' } });
      expect(made.statusCode, made.body).toBe(201);
      const { key, id } = made.json();
      seenKeys.push(key);
      expect(key).toMatch(/^lp_[a-z0-9]{12}_/);
      expect((await t.app.inject({ method: 'GET', url: '/v1/inspections', headers: bearer(key) })).statusCode).toBe(200);

      const list = await t.inject({ method: 'GET', url: '/v1/keys' });
      expect(list.body).not.toContain(key);
      expect(list.json().items.find((k: { id: string }) => k.id === id)).toMatchObject({ role: 'inspector', name: 'Ines', revokedAt: null });

      expect((await t.inject({ method: 'DELETE', url: `/v1/keys/${id}` })).statusCode).toBe(200);
      const after = await t.app.inject({ method: 'GET', url: '/v1/inspections', headers: bearer(key) });
      expect(after.statusCode).toBe(401);
      expect(after.json().error).toBe('key_revoked');
      const actions = (await auditDal(db.handle.db).ofSubject('api_key', id)).map((e) => [e.action, e.actor]);
      expect(actions).toEqual([
        ['key.create', 'admin:bootstrap'],
        ['key.revoke', 'admin:bootstrap'],
      ]);
    });

    it('exchanges a key for an HttpOnly session cookie that dies with the key', async () => {
      const insp = await t.createKey('inspector', 'Olga');
      seenKeys.push(insp.key);
      const s = await t.app.inject({ method: 'POST', url: '/v1/session', payload: { key: insp.key } });
      expect(s.statusCode, s.body).toBe(200);
      const setCookie = String(s.headers['set-cookie']);
      expect(setCookie).toMatch(/^loupe_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
      const cookie = setCookie.split(';')[0]!;
      seenKeys.push(cookie.split('=')[1]!);
      const who = await t.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } });
      expect(who.json()).toMatchObject({ role: 'inspector', name: 'Olga', actor: 'inspector:Olga' });
      expect((await t.app.inject({ method: 'GET', url: '/v1/inspections', headers: { cookie } })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: '/v1/keys', headers: { cookie } })).statusCode).toBe(403);
      expect((await t.app.inject({ method: 'POST', url: '/v1/session', payload: { key: 'wrong' } })).statusCode).toBe(401);

      await t.inject({ method: 'DELETE', url: `/v1/keys/${insp.id}` });
      const dead = await t.app.inject({ method: 'GET', url: '/v1/inspections', headers: { cookie } });
      expect(dead.statusCode).toBe(401);
    });

    it('serves the queue dashboard to admins', async () => {
      const res = await t.inject({ method: 'GET', url: '/admin/queues' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      const api = await t.inject({ method: 'GET', url: '/admin/queues/api/queues' });
      expect(api.statusCode, api.body).toBe(200);
      expect(JSON.stringify(api.json())).toContain('inspect');
    });

    it('never writes a key or session token to the log', async () => {
      expect(log.length).toBeGreaterThan(1000);
      expect(log).toContain('"statusCode":401');
      for (const k of seenKeys) if (log.includes(k)) console.log("LEAK", k.slice(0, 12), log.split("\n").filter((l) => l.includes(k)).map((l) => l.slice(0, 600)));
      for (const k of seenKeys) expect(log.includes(k), `a key appeared in the log`).toBe(false);
    });

    it('loupe keys create / list / revoke work on the same database', () => {
      const env = { ...process.env, ...t.env, LOG_LEVEL: 'silent' };
      const run = (args: string[]) => spawnSync(process.execPath, [LOUPE, ...args], { env, encoding: 'utf8', timeout: 60_000 });
      const created = run(['keys', 'create', '--role', 'manager', '--name', 'CLI person']);
      expect(created.status, created.stderr).toBe(0);
      const key = created.stdout.trim();
      expect(key).toMatch(/^lp_([a-z0-9]{12})_[A-Za-z0-9_-]{43}$/);
      const id = key.slice(3, 15);
      const listed = run(['keys', 'list']);
      expect(listed.stdout).toContain(id);
      expect(listed.stdout).toContain('CLI person');
      expect(listed.stdout).not.toContain(key);
      expect(run(['keys', 'revoke', id]).status).toBe(0);
      expect(run(['keys', 'revoke', id]).status).toBe(1);
      expect(run(['keys', 'create', '--role', 'boss', '--name', 'x']).status).toBe(2);
    });
  });
}
