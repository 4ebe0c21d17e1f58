import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../core/config.schema.js';
import { UploadMetadataSchema } from '../core/inspection.schema.js';
import { readModelCatalog, type CatalogModel } from '../core/model-catalog.js';
import type { PhotoStore } from '../core/photo-store/photo-store.js';
import type { JobQueue } from '../core/queue.js';
import { auditDal } from '../core/store/audit-dal.js';
import type { Db } from '../core/store/db.js';
import { idempotencyDal } from '../core/store/idempotency-dal.js';
import { inspectionsDal } from '../core/store/inspections-dal.js';
import { keysDal } from '../core/store/keys-dal.js';
import { modelsDal } from '../core/store/models-dal.js';
import { registerAuth } from './auth/auth.js';
import { createErrorHandler } from './errors.js';
import { registerQueuesDashboard } from './routes/admin/queues-dashboard.js';
import { healthRoutes } from './routes/health/health.routes.js';
import { inspectionsRoutes } from './routes/inspections/inspections.routes.js';
import { inspectionsService } from './routes/inspections/inspections-service.js';
import { overlayCache, type RenderOverlay } from './routes/inspections/overlay-cache.js';
import { createMetrics } from './routes/metrics/metrics.js';
import { metricsRoutes } from './routes/metrics/metrics.routes.js';
import { modelsRoutes } from './routes/models/models.routes.js';
import { piecesRoutes } from './routes/pieces/pieces.routes.js';
import { reportsRoutes } from './routes/reports/reports.routes.js';
import { keysRoutes } from './routes/keys/keys.routes.js';
import { sessionRoutes } from './routes/session/session.routes.js';
import { webhooksRoutes } from './routes/webhooks/webhooks.routes.js';
import { webhooksDal } from '../core/store/webhooks-dal.js';
import { calibrationsDal } from '../core/store/calibrations-dal.js';
import { calibrationRoutes } from './routes/stations/calibration.routes.js';
import { reviewRoutes } from './routes/review/review.routes.js';
import { reviewService } from './routes/review/review-service.js';
import { buildUiAssets } from './ui/ui-assets.js';
import { uiRoutes } from './ui/ui.routes.js';
import { loadProfiles } from '../pipeline/profiles.js';

/** Everything the API needs, built by the caller (server.ts, a test, the demo), so a test runs the same app. */
export interface AppDeps {
  config: Config;
  db: Db;
  queue: JobQueue;
  photos: PhotoStore;
  /** Profile names uploads may name (from the profiles file). */
  profileNames: readonly string[];
  /** The pipeline's overlay renderer; the API never loads a model, it only draws a stored report. */
  renderOverlay: RenderOverlay;
  /** Defaults to reading MODELS_DIR. */
  modelCatalog?: () => Promise<CatalogModel[]>;
  logger?: FastifyServerOptions['logger'];
  /** Where the default logger writes (stdout when absent); a test reads it to prove keys never reach the log. */
  logStream?: NodeJS.WritableStream;
}

/** The multipart body of the upload, for the OpenAPI document only (it is parsed by `receive-upload.ts`). */
const uploadBodyJsonSchema = {
  type: 'object',
  required: ['metadata', 'photo'],
  properties: {
    metadata: { ...z.toJSONSchema(UploadMetadataSchema, { io: 'input' }), description: 'JSON text; must come before the photos.' },
    photo: { type: 'array', items: { type: 'string', format: 'binary' }, description: 'One file part per view, in metadata.views order.' },
  },
};

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    logger: deps.logger ?? {
      level: config.logLevel,
      // Any object's `headers` one level down: the request's, and @fastify/multipart's busboy options (trace level).
      redact: ['*.headers.authorization', '*.headers["x-api-key"]', '*.headers.cookie', '*.headers["set-cookie"]'],
      ...(deps.logStream ? { stream: deps.logStream } : {}),
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    // JSON bodies (none today besides small admin calls to come) never need more than a metadata field does.
    bodyLimit: config.upload.maxFieldBytes,
    trustProxy: config.trustProxy,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(createErrorHandler(config));
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ statusCode: 404, error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}; see /docs` });
  });

  await app.register(multipart, { throwFileSizeLimit: true });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Loupe',
        version: '1',
        description: 'Automated final-QC inspection of fine jewelry from photos: upload, status, reports, overlays.',
      },
    },
    transform: (args) => {
      const out = jsonSchemaTransform(args);
      if (args.url === '/v1/inspections' && args.route.method === 'POST') {
        return { ...out, schema: { ...out.schema, body: uploadBodyJsonSchema } };
      }
      return out;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const keys = keysDal(deps.db);
  if (config.auth.bootstrapAdminKey) await keys.ensureBootstrap(config.auth.bootstrapAdminKey);
  // Before any route: every request is authenticated and checked against its route's roles (api/auth/auth.ts).
  registerAuth(app, { keys });

  const inspections = inspectionsDal(deps.db);
  const calibrations = calibrationsDal(deps.db);
  const catalog = deps.modelCatalog ?? (() => readModelCatalog(config.modelsDir));
  const metrics = createMetrics({ queue: deps.queue, inspections });
  app.addHook('onResponse', async (req, reply) => {
    metrics.observeHttp(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  await app.register(
    inspectionsRoutes({
      config,
      photos: deps.photos,
      profileNames: deps.profileNames,
      inspections,
      service: inspectionsService({
        db: deps.db,
        inspections,
        idempotency: idempotencyDal(deps.db),
        audit: auditDal(deps.db),
        calibrations,
        photos: deps.photos,
        queue: deps.queue,
        log: app.log,
      }),
      overlays: overlayCache(config.overlayCacheDir, deps.photos, deps.renderOverlay),
    }),
  );
  await app.register(piecesRoutes({ inspections }));
  await app.register(reportsRoutes({ db: deps.db }));
  await app.register(modelsRoutes({ catalog, models: modelsDal(deps.db) }));
  await app.register(healthRoutes({ db: deps.db, queue: deps.queue, catalog }));
  await app.register(metricsRoutes({ metrics }));
  await app.register(sessionRoutes({ config, keys }));
  await app.register(keysRoutes({ keys }));
  await app.register(webhooksRoutes({ webhooks: webhooksDal(deps.db), inspections }));
  await app.register(calibrationRoutes({ config, photos: deps.photos, calibrations }));
  // Inspector review and station pages (issue 8); tolerances shown beside findings come from the profiles file.
  const profiles = loadProfiles({ overridePath: config.profilesFile ?? undefined, env: {} });
  await app.register(reviewRoutes({ service: reviewService({ db: deps.db, inspections, profiles }), inspections, photos: deps.photos }));
  await app.register(
    uiRoutes({ assets: await buildUiAssets(), requiredViews: Object.fromEntries(profiles.names.map((n) => [n, profiles.get(n).requiredViews])) }),
  );
  await registerQueuesDashboard(app, deps.queue);
  return app;
}
