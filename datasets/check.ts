import { availableParallelism } from 'node:os';
import { checkEntry, type Severity } from './check-rules.js';
import { checkEntryFiles } from './check-files.js';
import { formatManifestProblem, readManifest, type ManifestProblem } from './manifest-io.js';
import type { ManifestEntry } from './manifest.schema.js';
import { mapLimit } from './map-limit.js';

export interface CheckOptions {
  /** Decode every image and mask fully; the default reads headers only, so thousands of images check in seconds. */
  deep?: boolean;
}

export interface CheckProblem extends ManifestProblem {
  severity: Severity;
}

export interface CheckResult {
  /** True when no problem is an error; warnings alone do not refuse a folder. */
  ok: boolean;
  /** The entries that parsed, in manifest order. */
  entries: ManifestEntry[];
  problems: CheckProblem[];
}

export function formatCheckProblem(problem: CheckProblem): string {
  const line = formatManifestProblem(problem);
  return problem.severity === 'warning' ? `${line} (warning)` : line;
}

/**
 * Validates a manifest folder before anything trains or evaluates on it: every line against the schema, the
 * consistency of labels, boxes and stone gaps, duplicate files, and the files themselves (header reads, or full
 * decodes with `deep`). Problems come back in line order so the first one printed is the first one to fix.
 */
export async function checkDataset(dir: string, opts: CheckOptions = {}): Promise<CheckResult> {
  const deep = opts.deep ?? false;
  const { lines, problems: parseProblems } = await readManifest(dir);
  const problems: CheckProblem[] = parseProblems.map((p) => ({ ...p, severity: 'error' }));

  const firstLineOfFile = new Map<string, number>();
  for (const { line, entry } of lines) {
    for (const f of checkEntry(entry)) problems.push({ line, ...f });
    const first = firstLineOfFile.get(entry.file);
    if (first !== undefined) {
      problems.push({ line, file: entry.file, severity: 'error', message: `listed again (first on line ${first})` });
    } else {
      firstLineOfFile.set(entry.file, line);
    }
  }

  // Header reads wait on the disk, full decodes on the CPU: more in flight only helps the former.
  const concurrency = deep ? availableParallelism() : 16;
  const fileFindings = await mapLimit(lines, concurrency, ({ entry }) => checkEntryFiles(dir, entry, { deep }));
  lines.forEach(({ line }, i) => {
    for (const f of fileFindings[i]) problems.push({ line, ...f });
  });

  problems.sort((a, b) => a.line - b.line);
  return {
    ok: problems.every((p) => p.severity !== 'error'),
    entries: lines.map((l) => l.entry),
    problems,
  };
}
