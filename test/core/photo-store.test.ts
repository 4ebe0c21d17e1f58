import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDirPhotoStore } from '../../core/photo-store/dir-photo-store.js';
import { photoStoreContract } from './support/photo-store-contract.js';

photoStoreContract('directory', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-photos-'));
  return { store: await createDirPhotoStore(dir), cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
});

describe('directory photo store layout', () => {
  it('never leaves a partial file under a key: writes land in .staging and are renamed', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'loupe-photos-'));
    const store = await createDirPhotoStore(dir);
    const { key } = await store.put(Buffer.alloc(1024, 7));
    expect(await fs.readdir(path.join(dir, '.staging'))).toEqual([]);
    expect((await fs.stat(path.join(dir, key.slice(0, 2), key.slice(2, 4), key))).size).toBe(1024);
    await fs.rm(dir, { recursive: true, force: true });
  });
});
