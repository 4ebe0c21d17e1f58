import { readdir, stat } from 'node:fs/promises';
import { extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SourceLayoutError, SourceMissingError } from './errors.js';

/** The repo root, so the default source does not depend on the directory `loupe` is run from. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Real sets live beside the repo, never in it (their terms forbid copying; see ../shared/datasets/README.md). */
export function defaultSourceDir(name: string): string {
  return resolve(REPO_ROOT, '..', 'shared', 'datasets', name);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Resolves `--from` (or the default) and fails with one line that says where it looked and how to point elsewhere:
 * the sets are absent on most machines, and that is expected rather than a bug.
 */
export async function resolveSourceDir(name: string, from: string | undefined, expects: string): Promise<string> {
  const dir = from === undefined ? defaultSourceDir(name) : resolve(from);
  if (!(await isDirectory(dir))) {
    const how = from === undefined ? `default ../shared/datasets/${name} beside the repo` : 'from --from';
    throw new SourceMissingError(
      `${name} source not found at ${dir} (${how}); pass --from <folder containing ${expects}>`,
    );
  }
  return dir;
}

/** The image names of one class folder, failing with the folder's path when the layout is not the expected one. */
export async function listImages(dir: string, extensions: readonly string[], sourceRoot: string): Promise<string[]> {
  if (!(await isDirectory(dir))) {
    throw new SourceLayoutError(`expected folder ${relative(sourceRoot, dir) || '.'} not found in ${sourceRoot}`);
  }
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && extensions.includes(extname(e.name).toLowerCase()))
    .map((e) => e.name);
}

