import type { Config } from '../config.schema.js';
import { createDirPhotoStore } from './dir-photo-store.js';
import type { PhotoStore } from './photo-store.js';
import { createS3PhotoStore } from './s3-photo-store.js';

/** The photo store PHOTO_STORE names: a directory, or an S3 bucket (staging in LOUPE_DATA_DIR/photo-staging). */
export async function createPhotoStore(config: Config): Promise<PhotoStore> {
  const t = config.photoStore;
  if (t.kind === 's3') {
    return createS3PhotoStore({
      bucket: t.bucket,
      prefix: t.prefix,
      endpoint: t.endpoint,
      region: t.region,
      forcePathStyle: t.forcePathStyle,
      stagingDir: config.photoStoreDir,
    });
  }
  return createDirPhotoStore(config.photoStoreDir);
}
