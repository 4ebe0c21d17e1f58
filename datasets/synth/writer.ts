import { mkdir, writeFile } from 'node:fs/promises';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE } from '../manifest.schema.js';
import type { RenderedSample } from './render-sample.js';

/**
 * Writes images and masks as they arrive and manifest lines strictly in index order, so the manifest is the same
 * bytes whatever order the workers finish in.
 */
export class DatasetWriter {
  private readonly pending = new Map<number, string>();
  private nextLine = 0;
  private readonly manifest: WriteStream;

  private constructor(private readonly dir: string) {
    this.manifest = createWriteStream(join(dir, MANIFEST_FILE), { flags: 'w' });
  }

  static async open(dir: string): Promise<DatasetWriter> {
    await mkdir(join(dir, 'images'), { recursive: true });
    await mkdir(join(dir, 'masks'), { recursive: true });
    return new DatasetWriter(dir);
  }

  async write(index: number, sample: RenderedSample): Promise<void> {
    await writeFile(join(this.dir, sample.entry.file), sample.jpeg);
    for (const [name, png] of Object.entries(sample.masks)) await writeFile(join(this.dir, 'masks', `${sample.stem}.${name}.png`), png);
    this.pending.set(index, JSON.stringify(sample.entry) + '\n');
    while (this.pending.has(this.nextLine)) {
      this.manifest.write(this.pending.get(this.nextLine)!);
      this.pending.delete(this.nextLine);
      this.nextLine++;
    }
  }

  async close(): Promise<void> {
    if (this.pending.size > 0) throw new Error(`manifest lines missing before index ${Math.min(...this.pending.keys())}`);
    await new Promise<void>((resolve, reject) => this.manifest.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
