import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteTestDatabase, type TestDatabase } from '../core/support/databases.js';
import { redisAnswers, skipUnless } from '../core/support/env.js';
import { testApp, type TestApp } from './support/test-app.js';

const redisUp = await redisAnswers();

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text exposition format (0.0.4), strictly: every line is a comment, blank, or a sample. */
function parsePrometheus(text: string): { types: Map<string, string>; help: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      (m[1] === 'HELP' ? help : types).set(m[2]!, m[3]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not a Prometheus line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
      let consumed = 0;
      for (let l; (l = re.exec(m[2])); ) {
        labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        consumed += l[0].length;
      }
      if (consumed !== m[2].length) throw new Error(`bad labels: ${line}`);
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3] === 'NaN' ? NaN : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`bad value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, help, samples };
}

describe.skipIf(skipUnless(redisUp, 'Redis'))('GET /metrics, scraped over HTTP and parsed', () => {
  let db: TestDatabase;
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    db = await sqliteTestDatabase();
    t = await testApp(db);
    base = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('is valid exposition format with the service metrics, and needs a manager or admin key', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const manager = await t.createKey('manager', 'prometheus');
    for (let i = 0; i < 3; i++) await fetch(`${base}/healthz`);
    const res = await fetch(`${base}/metrics`, { headers: manager.auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const { types, help, samples } = parsePrometheus(await res.text());

    for (const [name, type] of [
      ['loupe_http_request_duration_seconds', 'histogram'],
      ['loupe_queue_jobs', 'gauge'],
      ['loupe_queue_up', 'gauge'],
      ['loupe_inspections', 'gauge'],
      ['loupe_job_stage_seconds', 'histogram'],
      ['loupe_api_process_cpu_seconds_total', 'counter'],
    ] as const) {
      expect(types.get(name), name).toBe(type);
      expect(help.get(name), name).toBeTruthy();
    }
    expect(samples.find((s) => s.name === 'loupe_queue_up')?.value).toBe(1);
    const depth = samples.filter((s) => s.name === 'loupe_queue_jobs' && s.labels.queue === 'inspect');
    expect(depth.map((s) => s.labels.state).sort()).toEqual(['active', 'completed', 'delayed', 'failed', 'prioritized', 'waiting']);

    // The histogram of /healthz: cumulative buckets, +Inf equals the count, at least our three requests.
    const sel = (s: Sample) => s.labels.route === '/healthz' && s.labels.method === 'GET' && s.labels.status === '200';
    const buckets = samples.filter((s) => s.name === 'loupe_http_request_duration_seconds_bucket' && sel(s));
    const count = samples.find((s) => s.name === 'loupe_http_request_duration_seconds_count' && sel(s))!.value;
    expect(count).toBeGreaterThanOrEqual(3);
    const les = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
    expect(les).toEqual([...les].sort((a, b) => a - b));
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(buckets.at(-1)).toMatchObject({ labels: { le: '+Inf' }, value: count });
    // A refused scrape is itself measured, by route and status.
    expect(samples.some((s) => s.name === 'loupe_http_request_duration_seconds_count' && s.labels.route === '/metrics' && s.labels.status === '401')).toBe(true);
  });
});
