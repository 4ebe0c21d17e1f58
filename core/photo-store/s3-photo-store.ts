import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { assertPhotoKey, PHOTO_KEY_RE, PhotoNotFoundError, type PhotoStore } from './photo-store.js';

export interface S3PhotoStoreOptions {
  bucket: string;
  /** '' or ending in '/'. */
  prefix: string;
  /** null: AWS. */
  endpoint: string | null;
  region: string;
  forcePathStyle: boolean;
  /** Local folder uploads are streamed into while their hash is computed, before they are sent. */
  stagingDir: string;
  /** Default: the AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profile, instance role). */
  credentials?: S3ClientConfig['credentials'];
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * Photos in an S3-compatible bucket under `<prefix><sha256>`, so API and workers on different hosts share them.
 * An upload is staged on local disk (hashed while it streams in, checked, then sent), so a photo appears in the
 * bucket whole or not at all: S3 writes are atomic per object. The same bytes are sent once (HEAD first); two
 * hosts racing to send identical bytes write identical objects, which is harmless.
 */
export async function createS3PhotoStore(opts: S3PhotoStoreOptions): Promise<PhotoStore> {
  const client = new S3Client({
    region: opts.region,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    forcePathStyle: opts.forcePathStyle,
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    // Checksums only where S3 requires them: MinIO versions and other S3-compatible servers differ in the newer ones.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
  });
  const staging = path.resolve(opts.stagingDir);
  await fs.mkdir(staging, { recursive: true });
  const location = `s3://${opts.bucket}/${opts.prefix}`;
  try {
    await client.send(new HeadBucketCommand({ Bucket: opts.bucket }));
  } catch (err) {
    const why = isNotFound(err) ? 'the bucket does not exist' : err instanceof Error ? err.message : String(err);
    throw new Error(`PHOTO_STORE ${location}: ${why} (S3_ENDPOINT=${opts.endpoint ?? 'AWS'})`);
  }

  const objectKey = (key: string) => {
    assertPhotoKey(key);
    return `${opts.prefix}${key}`;
  };

  async function exists(key: string): Promise<boolean> {
    try {
      await client.send(new HeadObjectCommand({ Bucket: opts.bucket, Key: objectKey(key) }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async function send(key: string, bytes: Uint8Array): Promise<void> {
    await client.send(
      new PutObjectCommand({
        Bucket: opts.bucket,
        Key: objectKey(key),
        Body: bytes,
        ContentLength: bytes.byteLength,
        ContentType: 'application/octet-stream',
        Metadata: { sha256: key },
      }),
    );
  }

  return {
    location,
    async stagingPath() {
      return path.join(staging, `${randomUUID()}.part`);
    },
    async putStaged(stagedPath, sha256) {
      assertPhotoKey(sha256);
      try {
        if (await exists(sha256)) return { key: sha256, created: false };
        await send(sha256, await fs.readFile(stagedPath));
        return { key: sha256, created: true };
      } finally {
        await fs.rm(stagedPath, { force: true });
      }
    },
    async put(bytes) {
      const key = createHash('sha256').update(bytes).digest('hex');
      if (await exists(key)) return { key, created: false };
      await send(key, bytes);
      return { key, created: true };
    },
    async get(key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: opts.bucket, Key: objectKey(key) }));
        if (!res.Body) throw new PhotoNotFoundError(key);
        return Buffer.from(await res.Body.transformToByteArray());
      } catch (err) {
        if (isNotFound(err)) throw new PhotoNotFoundError(key);
        throw err;
      }
    },
    exists,
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: opts.bucket, Key: objectKey(key) }));
    },
    async *keys() {
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: opts.bucket, Prefix: opts.prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) {
          const name = o.Key?.slice(opts.prefix.length) ?? '';
          if (PHOTO_KEY_RE.test(name)) yield name;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
    async discardStaged(stagedPath) {
      if (path.dirname(path.resolve(stagedPath)) !== staging) return;
      await fs.rm(stagedPath, { force: true });
    },
  };
}
