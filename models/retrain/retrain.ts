import { spawn } from 'node:child_process';
import { access, mkdir, readFile, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { checkDataset, formatCheckProblem } from '../../datasets/check.js';
import { MANIFEST_FILE } from '../../datasets/manifest.schema.js';
import { ProgressBar } from '../../datasets/synth/progress.js';
import { loadProfiles } from '../../pipeline/profiles.js';
import { loadModel, releaseModel } from '../../pipeline/registry.js';
import { calibrateGates } from '../eval/calibrate-gates.js';
import { runEval, type ImageOutcome } from '../eval/run-eval.js';
import { compareEvals, formatComparison, recordComparison, type Comparison } from './compare.js';
import { RetrainError } from './errors.js';
import { FOLD_RULE, foldPaths, makeFolds, memberCheckpoints, scoreOutOfFold } from './folds-run.js';
import { allBut, splitHoldout, wholeFolders, writePartFolder, type HoldoutPart, type InputFolder } from './holdout.js';
import { photoHashes, photosInBoth, type PhotoRef } from './leakage.js';
import { effectiveVersion, listVersions, nextVersion, parseModelRef, readActiveFile, resolveModel, writeActiveFile, writeJsonAtomic } from './model-ref.js';
import { parseStepLine, TrainProgressBar } from './train-progress.js';

/**
 * `loupe train`: labelled manifest folders + a base model → a new version beside it, evaluated against the base on
 * the same validation photos. Order matters: every input folder is checked before anything else runs, and the new
 * version is written without ever changing which version serves (see `pinActive`).
 */

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TRAIN_PY = join(REPO_ROOT, 'models/training/train.py');
export const ENSEMBLE_PY = join(REPO_ROOT, 'models/training/ensemble.py');
export const DEFAULT_RUNS_DIR = join(REPO_ROOT, 'models/training/runs');

/** Without `--epochs`/`--steps`: this many passes over the training photos… */
export const DEFAULT_EPOCHS = 20;
/** …but at most this many steps: ~15 min at the ~1.1 s/step measured for batch 8 at 256 px on two cores. */
export const DEFAULT_MAX_STEPS = 800;

export interface RetrainOptions {
  data: string[];
  val?: string[];
  /** `ID` (its active version) or `ID@VERSION`. */
  base: string;
  modelsDir: string;
  epochs?: number;
  steps?: number;
  version?: string;
  runsDir?: string;
  run?: string;
  batch?: number;
  crop?: number;
  lr?: number;
  seed?: number;
  /** Export the exponential moving average of the weights with this decay instead of the last weights. */
  ema?: number;
  /** Turn training crops by any angle (train.py --rotate). */
  rotate?: boolean;
  /**
   * Train this many members, each without one fold of the training photos; the image gates are set on their
   * out-of-fold scores and the new version is their average (one ONNX graph, `folds` x the inference time).
   */
  folds?: number;
  /** Share of the photos held out for validation when `val` is absent. */
  valFraction?: number;
  resume?: boolean;
  smoke?: boolean;
  maxMinutes?: number;
  /** Product profile for the old-vs-new evaluation (its tolerances decide verdicts). */
  profile?: string;
  /** Decode every image fully in the pre-training check. */
  deep?: boolean;
  python?: string;
  /** Human-readable lines (stdout for the CLI). */
  print?: (line: string) => void;
  /** Training log lines and progress (stderr for the CLI). */
  stream?: NodeJS.WriteStream;
}

export interface RetrainPlan {
  schemaVersion: 1;
  id: string;
  base: string;
  version: string;
  run: string;
  data: string[];
  val: string[] | null;
  holdout: { rule: string; fraction: number; train: number; val: number } | null;
  trainImages: number;
  valImages: number;
  steps: number;
  stepsFrom: string;
  batch: number;
  /** Weight-average decay, null for the last weights. */
  ema: number | null;
  rotate: boolean;
  /** `--folds`: members, fold rule and each fold's photo count; null for one network. */
  folds: { k: number; rule: string; sizes: number[]; seeds: number[] } | null;
}

export type RetrainResult =
  | { status: 'done'; id: string; base: string; version: string; versionDir: string; runDir: string; comparison: Comparison; plan: RetrainPlan }
  | { status: 'stopped'; id: string; version: string; runDir: string; message: string; plan: RetrainPlan };

const HOLDOUT_RULE = 'sha256(file) first 32 bits / 2^32 < fraction, per label combination, >= 1 image per side for strata of >= 2';

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** `loupe dataset check` on every folder; refuses with every error line, folder by folder, before training. */
export async function checkInputs(dirs: readonly string[], deep: boolean, warn: (line: string) => void): Promise<InputFolder[]> {
  const details: string[] = [];
  const inputs: InputFolder[] = [];
  for (const dir of dirs) {
    const result = await checkDataset(dir, { deep });
    for (const p of result.problems) {
      // Concatenated, not path.join: the message after the line number is prose and must not be normalised.
      const line = `${dir.replace(/\/+$/, '')}/${formatCheckProblem(p)}`;
      if (p.severity === 'error') details.push(line);
      else warn(line);
    }
    inputs.push({ dir, entries: result.entries });
  }
  if (details.length > 0) {
    const bad = dirs.length === 1 ? dirs[0] : 'the input folders';
    throw new RetrainError(`refusing to train: ${bad} failed \`loupe dataset check\` (${details.length} problem(s)); nothing was trained`, details);
  }
  return inputs;
}

/** The photos of the input folders (of `part` when given), with their manifest lines. */
function photoRefs(inputs: readonly InputFolder[], part?: HoldoutPart): PhotoRef[] {
  const all = inputs.map((input) => input.entries.map((entry, i) => ({ dir: input.dir, line: i + 1, file: entry.file })));
  if (!part) return all.flat();
  // By position, not indexOf: a workshop's folder can hold tens of thousands of photos.
  const lineOf = inputs.map((input) => new Map(input.entries.map((entry, i) => [entry, i] as const)));
  return part.items.map(({ folder, entry }) => all[folder]![lineOf[folder]!.get(entry)!]!);
}

async function baseWeights(dir: string): Promise<void> {
  if (await exists(join(dir, 'weights.pt'))) return;
  const mj = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as { training?: { checkpoint?: string } };
  const ck = mj.training?.checkpoint;
  if (ck && (await exists(resolve(REPO_ROOT, ck)))) return;
  throw new RetrainError(`${dir} has no weights.pt (and its model.json names no checkpoint on this machine): cannot fine-tune from it`);
}

/**
 * Without `active.json` the registry serves the highest version, so writing a higher one would promote it by
 * accident: pin what serves now before the new folder appears.
 */
async function pinActive(modelsDir: string, id: string, print: (l: string) => void): Promise<void> {
  if ((await readActiveFile(modelsDir, id)) !== null) return;
  const current = await effectiveVersion(modelsDir, id);
  if (current === null) return;
  await writeActiveFile(modelsDir, id, current);
  print(`pinned ${id}@${current} in ${join(modelsDir, id, 'active.json')} (it was active as the highest version), so the new version does not take over by itself`);
}

function runPython(python: string, args: string[], stream: NodeJS.WriteStream, label: string): Promise<{ code: number; tail: string[] }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(python, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    const bar = new TrainProgressBar(label, stream);
    const tail: string[] = [];
    const keep = (line: string) => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
    };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      keep(line);
      const p = parseStepLine(line);
      if (p) return bar.update(p);
      bar.break();
      // The full line stays in the run's log.txt; the terminal gets the start of long ones (validation JSON).
      stream.write(`  ${line.length > 240 ? `${line.slice(0, 237)}...` : line}\n`);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      keep(line);
      bar.break();
      stream.write(`  ${line}\n`);
    });
    child.on('error', (err) => reject(new RetrainError(`cannot run ${python}: ${err.message} (training needs Debian's python3-torch: see models/training/README.md)`)));
    child.on('close', (code, signal) => {
      bar.break();
      resolvePromise({ code: code ?? (signal ? 128 : 1), tail });
    });
  });
}

async function countEntries(dir: string): Promise<number> {
  const text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').length;
}

async function sameFolder(a: string, b: string): Promise<boolean> {
  try {
    return (await realpath(a)) === (await realpath(b));
  } catch {
    return false;
  }
}

export async function retrain(opts: RetrainOptions): Promise<RetrainResult> {
  const print = opts.print ?? ((l: string) => process.stdout.write(l + '\n'));
  const stream = opts.stream ?? process.stderr;
  const python = opts.python ?? '/usr/bin/python3';
  const batch = opts.batch ?? 8;
  const modelsDir = resolve(opts.modelsDir);
  const runsDir = resolve(opts.runsDir ?? DEFAULT_RUNS_DIR);
  if (opts.data.length === 0) throw new RetrainError('no --data folder given');
  if (opts.epochs !== undefined && opts.steps !== undefined) throw new RetrainError('give --epochs or --steps, not both');

  // The comparison's profile, resolved now rather than after an hour of training.
  try {
    loadProfiles().get(opts.profile ?? 'ring');
  } catch (err) {
    throw new RetrainError(`--profile: ${(err as Error).message}`);
  }

  // 1. The base model: it must exist, load (hash, input names) and carry PyTorch weights.
  const ref = parseModelRef(opts.base);
  const base = await resolveModel(modelsDir, ref);
  try {
    const loaded = await loadModel(base.dir, 1);
    await releaseModel(loaded);
  } catch (err) {
    throw new RetrainError(`base model ${base.id}@${base.version} does not load: ${(err as Error).message}`);
  }
  await baseWeights(base.dir);

  // 2. Every input folder passes `loupe dataset check` before anything trains.
  const all = [...opts.data, ...(opts.val ?? [])];
  const inputs = await checkInputs(all, opts.deep ?? false, (l) => stream.write(`warning: ${l}\n`));
  const dataInputs = inputs.slice(0, opts.data.length);
  const valInputs = inputs.slice(opts.data.length);
  for (const d of opts.data) for (const v of opts.val ?? []) {
    if (await sameFolder(d, v)) throw new RetrainError(`${d} is given as both --data and --val: validation must be photos never trained on`);
  }
  // Nor under another name: the hold-out (without --val) is decided here, before any run folder exists.
  const fraction = opts.valFraction ?? 0.2;
  const split = valInputs.length > 0 ? null : splitHoldout(dataInputs, fraction);
  // The training photos' bytes are hashed once: for this check and, with --folds, for the folds.
  const trainPart = split ? split.train : wholeFolders(dataInputs);
  const trainRefs = photoRefs(dataInputs, trainPart);
  const trainHashes = await photoHashes(trainRefs);
  const leaked = await photosInBoth(trainRefs, trainHashes, split ? photoRefs(dataInputs, split.val) : photoRefs(valInputs));
  if (leaked.length > 0) {
    throw new RetrainError(
      `refusing to train: ${leaked.length} validation photo(s) are byte for byte training photos; validation must be photos never trained on (nothing was trained)`,
      leaked,
    );
  }

  // 3. Where the new version and the run go.
  const version = opts.version ?? (await nextVersion(modelsDir, base.id, base.version));
  const versionDir = join(modelsDir, base.id, version);
  if ((await listVersions(modelsDir, base.id)).includes(version)) {
    throw new RetrainError(`${base.id}@${version} already exists in ${versionDir}: choose another --version`);
  }
  const run = opts.run ?? `retrain-${base.id}-${version}`;
  const runDir = join(runsDir, run);
  await mkdir(runDir, { recursive: true });

  // 4. Training and validation folders.
  let trainDirs: string[];
  let valDirs: string[];
  let evalDir: string;
  let holdout: RetrainPlan['holdout'] = null;
  if (!split) {
    trainDirs = opts.data.map((d) => resolve(d));
    valDirs = valInputs.map((v) => resolve(v.dir));
    evalDir = valDirs.length === 1 ? valDirs[0]! : await writePartFolder(join(runDir, 'val-all'), valInputs, wholeFolders(valInputs));
  } else {
    if (split.val.items.length === 0 || split.train.items.length === 0) {
      throw new RetrainError(`cannot hold out a validation part from ${split.train.items.length + split.val.items.length} photo(s): give --val DIR`);
    }
    trainDirs = [await writePartFolder(join(runDir, 'split/train'), dataInputs, split.train)];
    valDirs = [await writePartFolder(join(runDir, 'split/val'), dataInputs, split.val)];
    evalDir = valDirs[0]!;
    holdout = { rule: HOLDOUT_RULE, fraction, train: split.train.items.length, val: split.val.items.length };
  }
  const trainImages = (await Promise.all(trainDirs.map(countEntries))).reduce((a, b) => a + b, 0);
  const valImages = await countEntries(evalDir);

  // --folds: the training photos in k folds, keyed by their bytes so that copies under two names share a fold.
  let folds: HoldoutPart[] | null = null;
  if (opts.folds !== undefined) {
    folds = makeFolds(trainPart, trainHashes, opts.folds);
  }
  // What one network trains on: all training photos, or k-1 folds of them.
  const memberImages = folds ? Math.round((trainImages * (folds.length - 1)) / folds.length) : trainImages;

  // 5. Steps: `--steps`, or `--epochs` passes over the training photos at this batch size.
  let steps: number;
  let stepsFrom: string;
  if (opts.steps !== undefined) {
    steps = opts.steps;
    stepsFrom = '--steps';
  } else if (opts.epochs !== undefined) {
    steps = Math.max(1, Math.ceil((opts.epochs * memberImages) / batch));
    stepsFrom = `--epochs ${opts.epochs} x ${memberImages} photos / batch ${batch}`;
  } else {
    steps = Math.max(1, Math.min(DEFAULT_MAX_STEPS, Math.ceil((DEFAULT_EPOCHS * memberImages) / batch)));
    stepsFrom = `default: ${DEFAULT_EPOCHS} epochs x ${memberImages} photos / batch ${batch}, at most ${DEFAULT_MAX_STEPS}`;
  }
  if (folds) stepsFrom += `, per member`;
  if (opts.smoke) {
    steps = Math.min(steps, 30);
    stepsFrom += ' (--smoke: at most 30)';
  }

  const plan: RetrainPlan = {
    schemaVersion: 1,
    id: base.id,
    base: base.version,
    version,
    run,
    data: opts.data.map((d) => resolve(d)),
    val: opts.val ? opts.val.map((v) => resolve(v)) : null,
    holdout,
    trainImages,
    valImages,
    steps,
    stepsFrom,
    batch,
    ema: opts.ema ?? null,
    rotate: opts.rotate ?? false,
    folds: folds ? { k: folds.length, rule: FOLD_RULE, sizes: folds.map((f) => f.items.length), seeds: folds.map((_, k) => (opts.seed ?? 1) + k) } : null,
  };
  const planPath = join(runDir, 'retrain.json');
  if (opts.resume) {
    const written = JSON.parse(await readFile(planPath, 'utf8').catch(() => 'null')) as Partial<RetrainPlan> | null;
    // A plan written before --ema and --rotate existed was trained without them.
    const before = written && { ema: null, rotate: false, folds: null, ...written };
    if (!before) throw new RetrainError(`--resume: ${planPath} does not exist (no earlier run of this command to continue)`);
    const same = (k: keyof RetrainPlan) => JSON.stringify(before[k]) === JSON.stringify(plan[k]);
    const differing = (['base', 'version', 'data', 'val', 'holdout', 'steps', 'batch', 'ema', 'rotate', 'folds'] as const).filter((k) => !same(k));
    if (differing.length > 0) throw new RetrainError(`--resume: this command differs from the run it would continue in ${differing.join(', ')} (see ${planPath})`);
  } else if ((await exists(join(runDir, 'last.pt'))) || (await memberCheckpoints(runDir)).length > 0) {
    throw new RetrainError(`${runDir} already holds a checkpoint: add --resume to continue it, or pass another --run/--version`);
  }
  await writeJsonAtomic(planPath, plan);
  print(`base ${base.id}@${base.version} → new ${base.id}@${version} (${versionDir})`);
  print(`training on ${trainImages} photos, validating on ${valImages}${holdout ? ` (held out by name hash, ${Math.round(holdout.fraction * 100)} % per label combination)` : ''}; ${steps} steps (${stepsFrom}); run ${runDir}`);
  if (plan.folds) print(`${plan.folds.k} members, each trained without one fold (fold sizes ${plan.folds.sizes.join(', ')}); gates set on out-of-fold scores`);

  await pinActive(modelsDir, base.id, print);

  // 6. Train, calibrate on the validation photos and export, in Python: one network, or k members and their average.
  const trainArgs = (data: string[], val: string[], out: string, runName: string, runsIn: string, seed: number | undefined, resume: boolean, maxMinutes: number | undefined) => {
    // prettier-ignore
    const args = [TRAIN_PY, '--base', base.dir, ...data.flatMap((d) => ['--data', d]), ...val.flatMap((v) => ['--val', v]),
      '--out', out, '--run', runName, '--runs-dir', runsIn, '--steps', String(steps), '--batch', String(batch)];
    if (opts.crop !== undefined) args.push('--crop', String(opts.crop));
    if (opts.lr !== undefined) args.push('--lr', String(opts.lr));
    if (seed !== undefined) args.push('--seed', String(seed));
    if (opts.ema !== undefined) args.push('--ema', String(opts.ema));
    if (opts.rotate) args.push('--rotate');
    if (maxMinutes !== undefined) args.push('--max-minutes', String(maxMinutes));
    if (resume) args.push('--resume');
    if (opts.smoke) args.push('--smoke');
    return args;
  };
  const stopped = (): RetrainResult => ({
    status: 'stopped',
    id: base.id,
    version,
    runDir,
    message: `training stopped before the last step (--max-minutes); continue with the same command plus --resume (checkpoint in ${runDir})`,
    plan,
  });
  const fp = foldPaths(runDir, base.id, version);
  if (!folds) {
    const args = trainArgs(trainDirs, valDirs, versionDir, run, runsDir, opts.seed, opts.resume ?? false, opts.maxMinutes);
    const { code, tail } = await runPython(python, args, stream, `train ${base.id}@${version}`);
    if (code !== 0) throw new RetrainError(`train.py exited with ${code}; the run can be continued with --resume once the cause is fixed`, tail.slice(-8));
    if (!(await exists(join(versionDir, 'model.json')))) return stopped();
  } else {
    // --max-minutes is shared by the members: the training time spent so far is what counts down.
    let spentMs = 0;
    const memberDirs: string[] = [];
    for (const [k, fold] of folds.entries()) {
      const memberDir = fp.memberDir(k);
      memberDirs.push(memberDir);
      // Written on every run, resumed or not: symlinks and a manifest, so cheap, and always this plan's folds.
      const data = await writePartFolder(fp.foldTrain(k), dataInputs, allBut(folds, k));
      const val = await writePartFolder(fp.foldVal(k), dataInputs, fold);
      if (await exists(join(memberDir, 'model.json'))) {
        print(`member ${k + 1}/${folds.length}: trained earlier (${memberDir})`);
        continue;
      }
      const left = opts.maxMinutes === undefined ? undefined : opts.maxMinutes - spentMs / 60_000;
      if (left !== undefined && left <= 0) return stopped();
      const memberRun = fp.memberRun(k);
      const resume = await exists(join(runDir, memberRun, 'last.pt'));
      const args = trainArgs([data], [val], memberDir, memberRun, runDir, plan.folds!.seeds[k], resume, left);
      const t0 = Date.now();
      const { code, tail } = await runPython(python, args, stream, `member ${k + 1}/${folds.length}`);
      spentMs += Date.now() - t0;
      if (code !== 0) throw new RetrainError(`train.py (member ${k + 1}) exited with ${code}; the run can be continued with --resume once the cause is fixed`, tail.slice(-8));
      if (!(await exists(join(memberDir, 'model.json')))) return stopped();
    }
    // prettier-ignore
    const args = [ENSEMBLE_PY, ...memberDirs.flatMap((d) => ['--member', d]), ...valDirs.flatMap((v) => ['--val', v]), '--out', versionDir, '--log', join(runDir, 'log.txt')];
    const { code, tail } = await runPython(python, args, stream, `ensemble ${base.id}@${version}`);
    if (code !== 0) throw new RetrainError(`ensemble.py exited with ${code}; rerun the command with --resume (the members are kept)`, tail.slice(-8));
  }

  // 7. The new version must load exactly as a worker would load it.
  try {
    const loaded = await loadModel(versionDir, 1);
    const ops = loaded.manifest.operatingPoints;
    const imageOnly = [...(ops.porosity?.pixelCalibrated === false ? ['porosity'] : []), ...Object.entries(ops.polish ?? {}).filter(([, op]) => op.pixelCalibrated === false).map(([k]) => k)];
    if (imageOnly.length > 0) {
      print(`no pixel labels for ${imageOnly.join(', ')} in the validation photos: their pixel thresholds are ${base.id}@${base.version}'s, so regions only show where the model looks (a porosity score at its gate is review at least)`);
    }
    await releaseModel(loaded);
  } catch (err) {
    throw new RetrainError(`the exported ${base.id}@${version} does not load: ${(err as Error).message}`);
  }

  // 8. Image gates re-set through the pipeline the station runs (piece mask, the profile's test-time augmentation),
  // for balanced accuracy on the validation photos: a workshop's own photos answer "is this piece good?", and
  // balanced accuracy does not move with the split's defect rate the way train.py's F1 gates do.
  // With --folds, on the training photos instead, each scored by the member trained without it: k times the photos
  // the validation part has, and the validation photos stay an unbiased check of the gates.
  const profileName = opts.profile ?? 'ring';
  const scored: ImageOutcome[] | undefined = folds ? await scoreOutOfFold(folds, fp, runDir, profileName, stream) : undefined;
  const gates = await calibrateGates({
    data: folds ? folds.map((_, k) => fp.foldVal(k)) : [evalDir],
    modelsDir,
    model: `${base.id}@${version}`,
    profile: profileName,
    objective: 'balanced',
    ...(scored ? { scored, scoredBy: `out of fold: each training photo scored by the member trained without its fold (${fp.membersDir})` } : {}),
  });
  const on = folds ? 'out-of-fold' : 'validation';
  for (const [channel, g] of Object.entries(gates)) {
    print(`gate ${channel}: ${g.threshold} (${on} recall ${g.recall.toFixed(3)} of ${g.positives}, false positives ${g.falsePositiveRate.toFixed(3)} of ${g.negatives})`);
  }

  // 9. Old vs new on the same validation photos, through the pipeline.
  const evalOne = async (v: string) => {
    let bar: ProgressBar | undefined;
    return runEval({
      data: evalDir,
      out: join(runDir, `eval-${v}.json`),
      modelsDir,
      model: `${base.id}@${v}`,
      profile: profileName,
      onProgress: (done, total) => {
        bar ??= new ProgressBar(total, `eval ${base.id}@${v}`, stream);
        bar.tick();
        if (done === total) bar.finish();
      },
    });
  };
  const before = await evalOne(base.version);
  const after = await evalOne(version);
  const comparison = compareEvals(before, after);
  await recordComparison(versionDir, comparison, {
    base: `${base.id}@${base.version}`,
    inputs: { data: plan.data, val: plan.val },
    holdout,
    folds: plan.folds,
    steps,
    stepsFrom,
    run: runDir,
  });
  print('');
  print(formatComparison(comparison));
  print('');
  print(`wrote ${versionDir} (model.json, model.onnx, weights.pt, MODEL_CARD.md, comparison.json); not promoted.`);
  print(`promote with: npx loupe models promote ${base.id} ${version}${modelsDir === resolve(REPO_ROOT, 'models') ? '' : ` --models ${modelsDir}`}`);
  return { status: 'done', id: base.id, base: base.version, version, versionDir, runDir, comparison, plan };
}
