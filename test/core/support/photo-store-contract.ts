import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PhotoNotFoundError, type PhotoStore } from '../../../core/photo-store/photo-store.js';

/** The contract every photo store implementation must pass (the S3 store of the production issue reuses it). */
export function photoStoreContract(name: string, make: () => Promise<{ store: PhotoStore; cleanup(): Promise<void> }>) {
  describe(`photo store: ${name}`, () => {
    let store: PhotoStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ store, cleanup } = await make());
    });
    afterAll(async () => cleanup?.());

    it('stores bytes under their sha256 and reads them back', async () => {
      const bytes = Buffer.from('a photo, honestly');
      const { key, created } = await store.put(bytes);
      expect(key).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(created).toBe(true);
      expect(await store.get(key)).toEqual(bytes);
      expect(await store.exists(key)).toBe(true);
    });

    it('stores the same bytes once', async () => {
      const bytes = Buffer.from('twice');
      const a = await store.put(bytes);
      const b = await store.put(bytes);
      expect(b).toEqual({ key: a.key, created: false });
      const keys: string[] = [];
      for await (const k of store.keys()) keys.push(k);
      expect(keys.filter((k) => k === a.key)).toHaveLength(1);
    });

    it('moves a staged upload in and drops a staged duplicate', async () => {
      const bytes = Buffer.from('staged');
      const key = createHash('sha256').update(bytes).digest('hex');
      const p1 = await store.stagingPath();
      await fs.writeFile(p1, bytes);
      expect(await store.putStaged(p1, key)).toEqual({ key, created: true });
      const p2 = await store.stagingPath();
      await fs.writeFile(p2, bytes);
      expect(await store.putStaged(p2, key)).toEqual({ key, created: false });
      await expect(fs.access(p2)).rejects.toThrow();
    });

    it('refuses keys that are not a sha256, so a key can never name another file', async () => {
      await expect(store.get('../../etc/passwd')).rejects.toBeInstanceOf(PhotoNotFoundError);
      await expect(store.get('0'.repeat(64))).rejects.toBeInstanceOf(PhotoNotFoundError);
    });

    it('deletes', async () => {
      const { key } = await store.put(Buffer.from('bye'));
      await store.delete(key);
      expect(await store.exists(key)).toBe(false);
    });
  });
}
