import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { JobQueue } from '../../../core/queue.js';

export const QUEUES_DASHBOARD_PATH = '/admin/queues';

/**
 * bull-board at /admin/queues. Its routes carry no role config, so the auth hook admits admins only (the default
 * for a route that names no roles); from a browser, sign in with POST /v1/session first (the cookie is sent).
 */
export async function registerQueuesDashboard(app: FastifyInstance, queue: JobQueue): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUES_DASHBOARD_PATH);
  createBullBoard({ queues: queue.bullQueues().map((q) => new BullMQAdapter(q)), serverAdapter, options: { uiConfig: { boardTitle: 'Loupe queues' } } });
  await app.register(serverAdapter.registerPlugin(), { prefix: QUEUES_DASHBOARD_PATH });
}
