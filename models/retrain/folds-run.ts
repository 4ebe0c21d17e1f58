import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ProgressBar } from '../../datasets/synth/progress.js';
import { runEvalWithImages, type ImageOutcome } from '../eval/run-eval.js';
import { RetrainError } from './errors.js';
import { splitFolds, type HoldoutPart } from './holdout.js';

/**
 * Where a `loupe train --folds K` run keeps its parts, and the out-of-fold scoring its gates are set on. The members
 * are ordinary model folders under the run (`members/<id>/<version>-fold<k>`), so the registry and `runEval` load
 * them like any version; the fold folders are manifests of symlinks (`folds/<k>/train|val`).
 */

export const FOLD_RULE =
  'fold = floor(k x first 32 bits of sha256(photo bytes) / 2^32), per label combination, every fold >= 1 photo of each combination of >= k photos; copies share a fold';

export interface FoldPaths {
  membersDir: string;
  /** 0-based k. */
  memberDir(k: number): string;
  memberRef(k: number): string;
  foldTrain(k: number): string;
  foldVal(k: number): string;
  memberRun(k: number): string;
}

export function foldPaths(runDir: string, id: string, version: string): FoldPaths {
  const membersDir = join(runDir, 'members');
  return {
    membersDir,
    memberDir: (k) => join(membersDir, id, `${version}-fold${k + 1}`),
    memberRef: (k) => `${id}@${version}-fold${k + 1}`,
    foldTrain: (k) => join(runDir, 'folds', String(k + 1), 'train'),
    foldVal: (k) => join(runDir, 'folds', String(k + 1), 'val'),
    memberRun: (k) => `member-${k + 1}`,
  };
}

/** The training photos in `k` folds, keyed by their bytes' hashes (`hashes`, in `part` order) so copies share a fold. */
export function makeFolds(part: HoldoutPart, hashes: readonly string[], k: number): HoldoutPart[] {
  const keyOf = new Map(part.items.map((item, i) => [item, hashes[i]!] as const));
  const folds = splitFolds(part, k, (item) => keyOf.get(item)!);
  if (folds.some((f) => f.items.length === 0)) {
    throw new RetrainError(`cannot make ${k} folds of ${part.items.length} training photo(s) (fold sizes ${folds.map((f) => f.items.length).join(', ')}): give fewer --folds`);
  }
  return folds;
}

/** Member checkpoints of a `--folds` run (`member-<k>/last.pt`). */
export async function memberCheckpoints(runDir: string): Promise<string[]> {
  const names = await readdir(runDir).catch(() => [] as string[]);
  const found: string[] = [];
  for (const n of names) {
    if (!/^member-\d+$/.test(n)) continue;
    try {
      await access(join(runDir, n, 'last.pt'));
      found.push(join(runDir, n, 'last.pt'));
    } catch {
      // no checkpoint in this member's folder
    }
  }
  return found;
}

/** Every training photo through the pipeline, scored by the member trained without its fold. */
export async function scoreOutOfFold(
  folds: readonly HoldoutPart[],
  paths: FoldPaths,
  runDir: string,
  profile: string,
  stream: NodeJS.WriteStream,
): Promise<ImageOutcome[]> {
  const scored: ImageOutcome[] = [];
  for (const k of folds.keys()) {
    let bar: ProgressBar | undefined;
    const { images } = await runEvalWithImages({
      data: paths.foldVal(k),
      out: join(runDir, `oof-${k + 1}.json`),
      modelsDir: paths.membersDir,
      model: paths.memberRef(k),
      profile,
      onProgress: (done, total) => {
        bar ??= new ProgressBar(total, `out-of-fold ${k + 1}/${folds.length}`, stream);
        bar.tick();
        if (done === total) bar.finish();
      },
    });
    scored.push(...images);
  }
  return scored;
}
