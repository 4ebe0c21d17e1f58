import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { assertPhotoKey, PhotoNotFoundError, type PhotoStore } from './photo-store.js';

/**
 * `<root>/ab/cd/<sha256>`: two levels of fan-out keep directories small at millions of photos. Every file appears by
 * `rename` of a fully written and fsynced temp file in `<root>/.staging` (same filesystem), so a reader never sees a
 * partial photo and a crash leaves at most a stray staging file.
 */
export async function createDirPhotoStore(root: string): Promise<PhotoStore> {
  const staging = path.join(root, '.staging');
  await fs.mkdir(staging, { recursive: true });

  const fileOf = (key: string) => {
    assertPhotoKey(key);
    return path.join(root, key.slice(0, 2), key.slice(2, 4), key);
  };

  async function exists(key: string): Promise<boolean> {
    try {
      await fs.access(fileOf(key));
      return true;
    } catch {
      return false;
    }
  }

  async function putStaged(stagedPath: string, sha256: string) {
    const target = fileOf(sha256);
    if (await exists(sha256)) {
      await fs.rm(stagedPath, { force: true });
      return { key: sha256, created: false };
    }
    await fs.mkdir(path.dirname(target), { recursive: true });
    // Same bytes under the same name: a concurrent rename of an identical upload is harmless.
    await fs.rename(stagedPath, target);
    return { key: sha256, created: true };
  }

  return {
    location: root,
    async stagingPath() {
      return path.join(staging, `${randomUUID()}.part`);
    },
    putStaged,
    async put(bytes) {
      const key = createHash('sha256').update(bytes).digest('hex');
      if (await exists(key)) return { key, created: false };
      const tmp = path.join(staging, `${randomUUID()}.part`);
      const fh = await fs.open(tmp, 'wx');
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return putStaged(tmp, key);
    },
    async get(key) {
      try {
        return await fs.readFile(fileOf(key));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PhotoNotFoundError(key);
        throw err;
      }
    },
    exists,
    async delete(key) {
      await fs.rm(fileOf(key), { force: true });
    },
    async *keys() {
      for (const a of await fs.readdir(root)) {
        if (!/^[0-9a-f]{2}$/.test(a)) continue;
        for (const b of await fs.readdir(path.join(root, a))) {
          for (const f of await fs.readdir(path.join(root, a, b))) if (/^[0-9a-f]{64}$/.test(f)) yield f;
        }
      }
    },
    async discardStaged(stagedPath) {
      // Only ever inside our staging folder, whatever the caller passes.
      if (path.dirname(path.resolve(stagedPath)) !== staging) return;
      await fs.rm(stagedPath, { force: true });
    },
  };
}
