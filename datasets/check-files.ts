import { access } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

type Metadata = Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
import type { ManifestEntry } from './manifest.schema.js';
import { filePathsOf, isInsideDataset, type EntryFinding } from './check-rules.js';

export interface FileCheckOptions {
  /** Decode every pixel (catches truncated files, non-binary masks) instead of reading headers only. */
  deep: boolean;
}

/** sharp reports a missing file as an unreadable one; asking the file system only on failure keeps reads single. */
async function readError(path: string, err: unknown): Promise<string> {
  try {
    await access(path);
  } catch {
    return 'file not found';
  }
  return `not a readable image (${(err as Error).message.split('\n')[0]})`;
}

async function checkImage(dir: string, entry: ManifestEntry, opts: FileCheckOptions): Promise<EntryFinding[]> {
  const file = entry.file;
  const path = join(dir, file);
  let meta: Metadata;
  try {
    meta = await sharp(path).metadata();
  } catch (err) {
    return [{ severity: 'error', file, message: await readError(path, err) }];
  }
  const findings: EntryFinding[] = [];
  if (meta.width !== entry.width || meta.height !== entry.height) {
    findings.push({
      severity: 'error',
      file,
      message: `image is ${meta.width}x${meta.height} but the manifest says ${entry.width}x${entry.height}`,
    });
  }
  if (opts.deep) {
    try {
      // failOn 'warning' turns libjpeg's "premature end of data" into an error instead of a grey bottom half.
      await sharp(path, { failOn: 'warning' }).raw().toBuffer();
    } catch (err) {
      findings.push({ severity: 'error', file, message: `image does not decode (${(err as Error).message.split('\n')[0]})` });
    }
  }
  return findings;
}

async function checkMask(
  dir: string,
  entry: ManifestEntry,
  key: string,
  file: string,
  opts: FileCheckOptions,
): Promise<EntryFinding[]> {
  const path = join(dir, file);
  let meta: Metadata;
  try {
    meta = await sharp(path).metadata();
  } catch (err) {
    return [{ severity: 'error', file, message: `${key}: ${await readError(path, err)}` }];
  }
  const findings: EntryFinding[] = [];
  if (meta.format !== 'png') findings.push({ severity: 'error', file, message: `${key} is ${meta.format}, not PNG` });
  if (meta.width !== entry.width || meta.height !== entry.height) {
    findings.push({
      severity: 'error',
      file,
      message: `${key} is ${meta.width}x${meta.height} but the image is ${entry.width}x${entry.height}`,
    });
  }
  if (meta.depth !== 'uchar') findings.push({ severity: 'error', file, message: `${key} is ${meta.depth}, not 8-bit` });
  if (meta.channels !== 1) {
    findings.push({ severity: 'warning', file, message: `${key} has ${meta.channels} channels; readers use the first` });
  }
  if (opts.deep && findings.every((f) => f.severity !== 'error')) {
    try {
      const data = await sharp(path, { failOn: 'warning' }).extractChannel(0).raw().toBuffer();
      let other = -1;
      let defectPixels = 0;
      for (const v of data) {
        if (v === 255) defectPixels++;
        else if (v !== 0 && other < 0) other = v;
      }
      if (other >= 0) findings.push({ severity: 'error', file, message: `${key} has values other than 0 and 255 (e.g. ${other})` });
      if (defectPixels === 0) findings.push({ severity: 'error', file, message: `${key} has no defect pixels` });
    } catch (err) {
      findings.push({ severity: 'error', file, message: `${key} does not decode (${(err as Error).message.split('\n')[0]})` });
    }
  }
  return findings;
}

/** Reads the files one entry names; paths escaping the folder were already reported and are not opened. */
export async function checkEntryFiles(dir: string, entry: ManifestEntry, opts: FileCheckOptions): Promise<EntryFinding[]> {
  const findings: EntryFinding[] = [];
  if (!isInsideDataset(entry.file)) return findings;
  findings.push(...(await checkImage(dir, entry, opts)));
  for (const { key, path } of filePathsOf(entry)) {
    if (key === 'file' || !isInsideDataset(path)) continue;
    findings.push(...(await checkMask(dir, entry, key, path, opts)));
  }
  return findings;
}
