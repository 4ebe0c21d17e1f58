import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.schema.js';
import { createPhotoStore } from '../../core/photo-store/index.js';
import { createS3PhotoStore } from '../../core/photo-store/s3-photo-store.js';
import { photoStoreContract } from './support/photo-store-contract.js';
import { S3RVER_CREDENTIALS, startS3Server } from './support/s3-server.js';

const s3 = await startS3Server();
afterAll(() => s3.stop());

async function s3Store(prefix: string) {
  const staging = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-s3-staging-'));
  const store = await createS3PhotoStore({
    bucket: s3.bucket,
    prefix,
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    stagingDir: staging,
    credentials: S3RVER_CREDENTIALS,
  });
  return { store, cleanup: () => fs.rm(staging, { recursive: true, force: true }) };
}

photoStoreContract('S3 (s3rver)', () => s3Store('contract/'));

describe('S3 photo store', () => {
  let staging: string;
  beforeAll(async () => {
    staging = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-s3-cfg-'));
  });
  afterAll(() => fs.rm(staging, { recursive: true, force: true }));

  it('keeps each prefix to itself and consumes the staged file', async () => {
    const a = await s3Store('site-a/');
    const b = await s3Store('site-b/');
    const { key } = await a.store.put(Buffer.from('only in a'));
    const keysB: string[] = [];
    for await (const k of b.store.keys()) keysB.push(k);
    expect(keysB).not.toContain(key);
    expect(await b.store.exists(key)).toBe(false);
    await Promise.all([a.cleanup(), b.cleanup()]);
  });

  it('is chosen by PHOTO_STORE=s3://bucket/prefix with S3_ENDPOINT, path-style, credentials from the environment', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
    try {
      const config = loadConfig({ LOUPE_DATA_DIR: staging, PHOTO_STORE: `s3://${s3.bucket}/prod/photos/`, S3_ENDPOINT: s3.endpoint });
      expect(config.photoStore).toMatchObject({ kind: 's3', bucket: s3.bucket, prefix: 'prod/photos/', forcePathStyle: true });
      const store = await createPhotoStore(config);
      expect(store.location).toBe(`s3://${s3.bucket}/prod/photos/`);
      const { key } = await store.put(Buffer.from('via config'));
      expect((await store.get(key)).toString()).toBe('via config');
    } finally {
      process.env = saved;
    }
  });

  it('refuses a bucket that does not exist at start-up, and malformed s3 URLs in the config', async () => {
    await expect(
      createS3PhotoStore({ bucket: 'no-such-bucket', prefix: '', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, stagingDir: staging, credentials: S3RVER_CREDENTIALS }),
    ).rejects.toThrow(/no-such-bucket.*does not exist/);
    expect(() => loadConfig({ PHOTO_STORE: 's3://' })).toThrow(/PHOTO_STORE/);
    expect(() => loadConfig({ PHOTO_STORE: 'gs://bucket' })).toThrow(/PHOTO_STORE/);
  });
});
