import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectionsDal } from '../../core/store/inspections-dal.js';
import { webhooksDal } from '../../core/store/webhooks-dal.js';
import { createWebhookEmitter } from '../../core/webhooks/emitter.js';
import { verifySignature } from '../../core/webhooks/signature.js';
import { loadProfiles } from '../../pipeline/index.js';
import { inspectHandler } from '../../workers/handlers/inspect.handler.js';
import { webhookHandler } from '../../workers/handlers/webhook.handler.js';
import { startWorkers } from '../../workers/queues.js';
import { sweepOnce } from '../../workers/sweeper.js';
import { inspectJobFor } from '../../core/jobs.js';
import { uploadBody } from '../api/support/multipart.js';
import { jpegPhoto } from '../api/support/photos.js';
import { sampleMetadata, testApp, type TestApp } from '../api/support/test-app.js';
import { DATABASES, type TestDatabase } from '../core/support/databases.js';
import { postgresAnswers, redisAnswers, skipUnless } from '../core/support/env.js';
import { fakeReport } from '../core/support/report-fixture.js';
import { waitFor } from '../e2e/support/stack.js';

const redisUp = await redisAnswers();
const pgUp = await postgresAnswers();
const silent = { info() {}, warn() {}, debug() {} };

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

/** A webhook receiver on loopback: `/flaky` answers 500 to the first attempt of each delivery, `/down` always 500. */
async function startReceiver() {
  const received: Received[] = [];
  const seen = new Set<string>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const delivery = String(req.headers['loupe-delivery']);
      let status = 200;
      if (req.url === '/down') status = 500;
      if (req.url === '/flaky' && !seen.has(delivery)) {
        seen.add(delivery);
        status = 500;
      }
      received.push({ path: req.url ?? '', headers: req.headers, body, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'receiver broke');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

for (const { name, create } of DATABASES) {
  const skip = skipUnless(redisUp, 'Redis') || (name === 'postgres' && skipUnless(pgUp, 'PostgreSQL'));
  describe.skipIf(skip)(`webhooks on ${name}: signed, retried with backoff, listed per inspection`, () => {
    let db: TestDatabase;
    let t: TestApp;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let workers: Worker[];

    beforeAll(async () => {
      db = await create();
      receiver = await startReceiver();
      t = await testApp(db, { WEBHOOK_BACKOFF_MS: '150', WEBHOOK_ATTEMPTS: '3', WEBHOOK_TIMEOUT_MS: '2000' });
      const webhooks = webhooksDal(db.handle.db);
      const inspections = inspectionsDal(db.handle.db);
      const emitter = createWebhookEmitter({ db: db.handle.db, webhooks, queue: t.queue, log: silent });
      const inspect = inspectHandler({
        inspections,
        photos: t.photos,
        profiles: loadProfiles({ env: {} }),
        // The model is not what is tested here: every photo gets a failing report.
        inspectPhoto: async (bytes) => fakeReport({ porous: true, sha256: createHash('sha256').update(bytes).digest('hex') }),
        webhooks: emitter,
        log: silent,
      });
      workers = startWorkers(t.config, { inspect, webhook: webhookHandler({ webhooks, timeoutMs: 2000, log: silent }) }, () => {});
    });
    afterAll(async () => {
      await Promise.all((workers ?? []).map((w) => w.close()));
      await t?.close();
      await receiver?.close();
      await db?.drop();
    });

    async function register(payload: Record<string, unknown>) {
      const res = await t.inject({ method: 'POST', url: '/v1/webhooks', payload });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { id: string; secret: string };
    }

    async function uploadFor(stationId: string, pieceId: string) {
      const { body, contentType } = uploadBody(sampleMetadata({ stationId, pieceId }), [{ data: await jpegPhoto(320, 240, pieceId.length) }]);
      const res = await t.inject({ method: 'POST', url: '/v1/inspections', payload: body, headers: { 'content-type': contentType } });
      expect(res.statusCode, res.body).toBe(202);
      return res.json().id as string;
    }

    it('delivers done and fail events signed; a receiver answering 500 first gets the same body again, signed the same way', async () => {
      const hook = await register({ url: `${receiver.base}/flaky`, events: ['inspection.done', 'inspection.fail'] });
      const other = await register({ url: `${receiver.base}/other-station`, stationId: 'qc-elsewhere', events: ['inspection.done'] });
      expect(hook.secret).toMatch(/^whsec_/);
      expect((await t.inject({ method: 'GET', url: '/v1/webhooks' })).body).not.toContain(hook.secret);

      const id = await uploadFor('qc-1', 'WH-1');
      const attempts = await waitFor(
        'two attempts of each event',
        async () => {
          const mine = receiver.received.filter((r) => r.path === '/flaky' && JSON.parse(r.body).data.inspection.id === id);
          return mine.length >= 4 ? mine : null;
        },
        30_000,
        100,
      );
      const byDelivery = new Map<string, Received[]>();
      for (const r of attempts) byDelivery.set(String(r.headers['loupe-delivery']), [...(byDelivery.get(String(r.headers['loupe-delivery'])) ?? []), r]);
      expect(byDelivery.size).toBe(2);
      for (const [deliveryId, tries] of byDelivery) {
        expect(tries.map((r) => r.status)).toEqual([500, 200]);
        expect(tries[1]!.body).toBe(tries[0]!.body);
        for (const r of tries) {
          expect(r.headers['content-type']).toBe('application/json');
          const v = verifySignature(hook.secret, String(r.headers['loupe-signature']), r.body);
          expect(v.ok, String(r.headers['loupe-signature'])).toBe(true);
          expect(verifySignature('whsec_wrong', String(r.headers['loupe-signature']), r.body).ok).toBe(false);
          expect(verifySignature(hook.secret, String(r.headers['loupe-signature']), r.body.replace('"fail"', '"pass"')).ok).toBe(false);
        }
        const body = JSON.parse(tries[0]!.body);
        expect(body.id).toBe(deliveryId);
        expect(body.data.inspection).toMatchObject({ id, stationId: 'qc-1', pieceId: 'WH-1', status: 'done', verdict: 'fail', url: `/v1/inspections/${id}` });
        expect(body.data.inspection.views[0].photoSha256).toMatch(/^[0-9a-f]{64}$/);
      }
      expect(new Set(attempts.map((r) => r.headers['loupe-event']))).toEqual(new Set(['inspection.done', 'inspection.fail']));
      // A signature is refused outside the replay window.
      const sig = String(attempts[0]!.headers['loupe-signature']);
      const ts = Number(/t=(\d+)/.exec(sig)![1]);
      expect(verifySignature(hook.secret, sig, attempts[0]!.body, { nowS: ts + 301 })).toEqual({ ok: false, reason: 'too_old' });
      expect(receiver.received.some((r) => r.path === '/other-station')).toBe(false);

      const manager = await t.createKey('manager', 'Mo');
      const list = await waitFor(
        'deliveries marked delivered',
        async () => {
          const res = await t.app.inject({ method: 'GET', url: `/v1/inspections/${id}/webhooks`, headers: manager.auth });
          const items = res.json().items as Array<{ status: string }>;
          return items.length === 2 && items.every((d) => d.status === 'delivered') ? items : null;
        },
        10_000,
        100,
      );
      for (const d of list) expect(d).toMatchObject({ webhookId: hook.id, url: `${receiver.base}/flaky`, attempts: 2, lastStatusCode: 200, status: 'delivered' });
      const station = await t.createKey('station', 'qc-1 cam');
      expect((await t.app.inject({ method: 'GET', url: `/v1/inspections/${id}/webhooks`, headers: station.auth })).statusCode).toBe(403);

      await t.inject({ method: 'DELETE', url: `/v1/webhooks/${hook.id}` });
      await t.inject({ method: 'DELETE', url: `/v1/webhooks/${other.id}` });
    });

    it('announces an inspection that cannot be processed (inspection.error), and the sweeper sends deliveries whose job was lost', async () => {
      const hook = await register({ url: `${receiver.base}/ok`, events: ['inspection.error'] });
      // An inspection whose photo is not in the store: the worker fails it for good.
      const dal = inspectionsDal(db.handle.db);
      const id = randomUUID();
      const missing = 'f'.repeat(64);
      await db.handle.db.transaction().execute((trx) =>
        dal.insert(trx, {
          id,
          metadata: sampleMetadata({ pieceId: 'WH-ERR', stationId: 'qc-3' }) as never,
          views: [{ view: 'top', photoSha256: missing, photoType: 'jpeg', width: 10, height: 10, bytes: 1, fileName: null, mmPerPx: 0.01 }],
        }),
      );
      await t.queue.enqueue('inspect', inspectJobFor((await dal.get(id))!), id);
      const err = await waitFor('the error event', async () => receiver.received.find((r) => r.path === '/ok' && JSON.parse(r.body).data.inspection.id === id), 20_000, 100);
      expect(err.headers['loupe-event']).toBe('inspection.error');
      expect(JSON.parse(err.body).data.inspection).toMatchObject({ status: 'failed', failureReason: expect.stringContaining('missing from the photo store') });

      // A delivery committed but never enqueued (the worker died in between): the sweeper enqueues it.
      const webhooks = webhooksDal(db.handle.db);
      const [lost] = await webhooks.prepare(db.handle.db, { event: 'inspection.error', stationId: 'qc-3', inspectionId: id, data: { inspection: { id } } });
      await new Promise((r) => setTimeout(r, 20)); // older than the (zero) grace period
      const swept = await sweepOnce({ inspections: dal, webhooks, queue: t.queue, graceMs: 0, log: silent });
      expect(swept.requeued).toContain(lost);
      await waitFor('the swept delivery', async () => (await webhooks.delivery(lost!))?.status === 'delivered', 20_000, 100);
      await t.inject({ method: 'DELETE', url: `/v1/webhooks/${hook.id}` });
    });

    it('marks a delivery failed after WEBHOOK_ATTEMPTS when the receiver never answers 2xx', async () => {
      const hook = await register({ url: `${receiver.base}/down`, events: ['inspection.fail'] });
      const id = await uploadFor('qc-2', 'WH-2');
      const failed = await waitFor(
        'the delivery to fail for good',
        async () => {
          const items = (await t.inject({ method: 'GET', url: `/v1/inspections/${id}/webhooks` })).json().items as Array<{ status: string }>;
          return items.length === 1 && items[0]!.status === 'failed' ? items[0] : null;
        },
        30_000,
        100,
      );
      expect(failed).toMatchObject({ attempts: 3, lastStatusCode: 500, lastError: 'receiver answered 500: receiver broke' });
      expect(receiver.received.filter((r) => r.path === '/down')).toHaveLength(3);
      await t.inject({ method: 'DELETE', url: `/v1/webhooks/${hook.id}` });
    });
  });
}
