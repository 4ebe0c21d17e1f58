import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * Where the browser suites save their screenshots. The README shows docs/*.png; a test run must not rewrite tracked
 * files on every run (each run's pixels differ a little, so every checkout came out dirty), so the pictures go to a
 * temporary folder unless LOUPE_UPDATE_DOCS=1 asks for the README's pictures to be refreshed.
 */
export function docPicturesDir(): string {
  if (process.env.LOUPE_UPDATE_DOCS === '1') {
    const docs = fileURLToPath(new URL('../../../docs/', import.meta.url));
    mkdirSync(docs, { recursive: true });
    return docs;
  }
  return mkdtempSync(`${tmpdir()}/loupe-doc-pictures-`);
}
