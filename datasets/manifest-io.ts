import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { MANIFEST_FILE, ManifestEntrySchema, type ManifestEntry } from './manifest.schema.js';

/** A manifest entry with the 1-based line it was read from, so every later complaint can point at that line. */
export interface ManifestLine {
  line: number;
  entry: ManifestEntry;
}

/** `line` is 1-based; 0 means the manifest as a whole (missing, empty). `file` is the path the problem is about. */
export interface ManifestProblem {
  line: number;
  file?: string;
  message: string;
}

export interface ParsedManifest {
  lines: ManifestLine[];
  problems: ManifestProblem[];
}

export class ManifestParseError extends Error {
  constructor(
    readonly dir: string,
    readonly problems: ManifestProblem[],
  ) {
    super(`${join(dir, MANIFEST_FILE)} is invalid:\n${problems.map(formatManifestProblem).join('\n')}`);
    this.name = 'ManifestParseError';
  }
}

/** `manifest.jsonl:12: images/a.jpg: message`, the form editors and CI logs link to. */
export function formatManifestProblem(problem: ManifestProblem): string {
  const where = problem.line > 0 ? `${MANIFEST_FILE}:${problem.line}` : MANIFEST_FILE;
  return `${where}: ${problem.file ? `${problem.file}: ` : ''}${problem.message}`;
}

/** `defects[0].bbox`, the way the key reads in the JSON line. */
export function formatIssuePath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(entry)' : out;
}

function issueMessages(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatIssuePath(issue.path)}: ${issue.message}`);
}

/**
 * Parses every line on its own so one bad line is reported with its number instead of hiding the rest. Blank lines
 * are skipped (a trailing newline is normal) but still counted, so numbers match an editor's.
 */
export function parseManifestText(text: string): ParsedManifest {
  const lines: ManifestLine[] = [];
  const problems: ManifestProblem[] = [];
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const raw = rows[i].trim();
    if (raw === '') continue;
    const line = i + 1;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      problems.push({ line, message: `not valid JSON (${(err as Error).message})` });
      continue;
    }
    const parsed = ManifestEntrySchema.safeParse(json);
    if (!parsed.success) {
      const file = typeof (json as { file?: unknown })?.file === 'string' ? (json as { file: string }).file : undefined;
      for (const message of issueMessages(parsed.error)) problems.push({ line, file, message });
      continue;
    }
    lines.push({ line, entry: parsed.data });
  }
  if (lines.length === 0 && problems.length === 0) problems.push({ line: 0, message: 'has no entries' });
  return { lines, problems };
}

export async function readManifest(dir: string): Promise<ParsedManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { lines: [], problems: [{ line: 0, message: `not found in ${dir}` }] };
    }
    throw err;
  }
  return parseManifestText(text);
}

/** For tools that need every entry valid (training, eval): throws with every bad line rather than skipping them. */
export async function loadManifest(dir: string): Promise<ManifestEntry[]> {
  const { lines, problems } = await readManifest(dir);
  if (problems.length > 0) throw new ManifestParseError(dir, problems);
  return lines.map((l) => l.entry);
}

export function serializeManifest(entries: readonly ManifestEntry[]): string {
  return entries.map((entry) => JSON.stringify(ManifestEntrySchema.parse(entry))).join('\n') + '\n';
}

/**
 * Validates before writing (a writer bug must not produce a manifest the reader refuses) and writes through a
 * temporary file, so an interrupted run never leaves a half manifest that looks complete.
 */
export async function writeManifest(dir: string, entries: readonly ManifestEntry[]): Promise<string> {
  const path = join(dir, MANIFEST_FILE);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, serializeManifest(entries));
  await rename(tmp, path);
  return path;
}
