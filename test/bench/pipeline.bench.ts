/**
 * Pipeline benchmark (a plain script, not a test):
 *   npx tsx test/bench/pipeline.bench.ts [--out bench/pipeline.json] [--runs 5] [--mm-per-px 0.005]
 * Renders one synthetic photo 4000 px wide (seed 300 index 1: 4000×3000, a 12 MP frame), runs `inspect()` with the active model(s)
 * loaded and warmed up as a worker loads them, and reports milliseconds per stage (median of --runs after one more
 * inspection), the first inspection on a cold session, the overlay separately, the ratio of
 * non-model to model time, and the same network in PyTorch eager on the same working-scale tensor (when
 * /usr/bin/python3 has torch and the model folder ships weights.pt). Then a piece framed with room around it (seed 300
 * index 0, a pendant, 4000×2667) with the models on the piece's box (`inference.cropToPiece`, the default) and on
 * the whole frame, alternated: the band above fills too much of its frame for the crop to apply; and the same photo
 * read as a 29 mm field of view on the whole frame (wider than one seg tile, as a photo whose piece the mask cannot
 * find). Last, eight other
 * 12 MP photos (seed 300 indices 2-9) inspected once each, since one photo repeated flatters the median.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { DEFAULT_WORKER_WARMUP_RUNS } from '../../core/config.schema.js';
import { mallocTuned } from '../../core/malloc-tuning.js';
import { renderSample } from '../../datasets/synth/render-sample.js';
import { createModelRegistry, inspect, loadProfiles, renderOverlay } from '../../pipeline/index.js';
import type { StonePass, VerifierPass } from '../../pipeline/inspect.js';
import { workingScale } from '../../pipeline/preprocess.js';
import { warmUpPipeline } from '../../pipeline/warm-up-pipeline.js';
import { warmUpPhotos } from '../../workers/warm-up-photos.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const outFile = arg('--out', join(ROOT, 'bench', 'pipeline.json'));
const runs = Number(arg('--runs', '5'));
const modelsDir = arg('--models', join(ROOT, 'models'));
/** Field of view of the bench's widest framing, mm: the widest the generator renders is 30 mm. */
const WIDE_FIELD_MM = 29;
/** Seed 300 indices 2.. rendered at 4000 px; ~5 s each to render. */
const DISTINCT_PHOTOS = 8;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  process.stderr.write('rendering a 4000 px wide photo (seed 300, index 1)…\n');
  const sample = await renderSample({ seed: 300, index: 1, size: 4000 });
  const photo = sample.jpeg;
  // The scene sets the aspect (seed 300 index 1 is 4000×3000, as the speed target names): the real size, for the table and the bare-model run.
  const size = { width: sample.entry.width, height: sample.entry.height };
  const mmPerPx = Number(arg('--mm-per-px', String(sample.entry.mmPerPx)));
  const profile = loadProfiles().get('ring');
  // A cold session first (what a worker without warm-up gives its first photo), then the registry as a worker loads it.
  const cold = await createModelRegistry({ dir: modelsDir });
  const coldLease = await cold.lease();
  const t0Cold = performance.now();
  await inspect(photo, { mmPerPx, view: 'top' }, profile, { models: coldLease.models });
  const coldFirstMs = performance.now() - t0Cold;
  coldLease.release();
  await cold.close();
  let warmUpMs = 0;
  const registry = await createModelRegistry({ dir: modelsDir, warmUpRuns: DEFAULT_WORKER_WARMUP_RUNS, onWarmUp: (_m, ms) => (warmUpMs += ms) });
  const lease = await registry.lease();
  const model = lease.models[0]!;
  try {
    // Then the committed samples through the whole pipeline, as a worker does before its first job.
    warmUpMs += await warmUpPipeline(await warmUpPhotos(), profile, { models: lease.models });
    const meta = { mmPerPx, view: 'top' };
    const t0Warm = performance.now();
    await inspect(photo, meta, profile, { models: lease.models });
    const warmFirstMs = performance.now() - t0Warm;
    const stages: Record<string, number[]> = { decode: [], quality: [], preprocess: [], inference: [], postprocess: [], total: [] };
    let lastReport;
    const passes: VerifierPass[] = [];
    const stonePasses: StonePass[] = [];
    for (let i = 0; i < runs; i++) {
      const report = await inspect(photo, meta, profile, { models: lease.models, onVerifier: (p) => passes.push(p), onStones: (p) => stonePasses.push(p) });
      for (const k of Object.keys(stages)) stages[k]!.push(report.timingsMs[k as keyof typeof report.timingsMs]);
      lastReport = report;
    }
    const overlayMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await renderOverlay(photo, lastReport!);
      overlayMs.push(performance.now() - t0);
    }
    const med = Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, median(v)])) as Record<string, number>;
    const nonModel = med.decode! + med.quality! + med.preprocess! + med.postprocess!;

    // The same network on the same tensor: onnxruntime-node alone, then PyTorch eager.
    const ws = workingScale(size, mmPerPx, model.manifest.input.workingMmPerPx);
    const mult = model.manifest.input.sizeMultiple;
    const H = Math.ceil(ws.height / mult) * mult;
    const W = Math.ceil(ws.width / mult) * mult;
    const { data } = await sharp(photo).resize(ws.width, ws.height, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const norm = model.manifest.input.normalisation;
    const tensor = new Float32Array(3 * H * W);
    for (let y = 0; y < ws.height; y++)
      for (let x = 0; x < ws.width; x++)
        for (let c = 0; c < 3; c++) tensor[c * H * W + y * W + x] = (data[(y * ws.width + x) * 3 + c]! / norm.scale - norm.mean[c]!) / norm.std[c]!;
    const ortTimes: number[] = [];
    const feeds = { [model.manifest.input.name]: new ort.Tensor('float32', tensor, [1, 3, H, W]) };
    await model.session.run(feeds);
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await model.session.run(feeds);
      ortTimes.push(performance.now() - t0);
    }
    let torch: { msMedian: number; msMin: number } | { error: string } = { error: 'not run' };
    const weights = join(model.dir, 'weights.pt');
    if (existsSync(weights)) {
      const tmp = mkdtempSync(join(tmpdir(), 'loupe-bench-'));
      const input = join(tmp, 'input.f32');
      writeFileSync(input, Buffer.from(tensor.buffer));
      try {
        const out = execFileSync(
          '/usr/bin/python3',
          [join(ROOT, 'models/training/bench_torch.py'), '--weights', weights, '--input', input, '--shape', `1,3,${H},${W}`, '--runs', String(runs), '--threads', String(availableParallelism())],
          { cwd: join(ROOT, 'models/training'), encoding: 'utf8' },
        );
        torch = JSON.parse(out.trim().split('\n').pop()!);
      } catch (error) {
        torch = { error: String((error as Error).message).split('\n')[0]! };
      }
    } else torch = { error: `${weights} missing` };

    // A piece framed with room around it: the crop to the piece's box against the whole frame, alternated.
    const framed = await renderSample({ seed: 300, index: 0, size: 4000 });
    const framedMeta = { mmPerPx: Number(framed.entry.mmPerPx), view: 'top' };
    const wholeFrame = { ...profile, inference: { ...profile.inference, cropToPiece: false } };
    // The same photo read as a 29 mm field of view: the whole frame is then wider than one seg tile (2048 px), as for
    // a photo whose piece the mask cannot find (the slowest 12 MP photos).
    const wideMeta = { ...framedMeta, mmPerPx: WIDE_FIELD_MM / framed.entry.width };
    const wideWorking = workingScale({ width: framed.entry.width, height: framed.entry.height }, wideMeta.mmPerPx, model.manifest.input.workingMmPerPx);
    const framedMs = { crop: [] as number[], whole: [] as number[], wide: [] as number[] };
    await inspect(framed.jpeg, framedMeta, profile, { models: lease.models });
    await inspect(framed.jpeg, wideMeta, wholeFrame, { models: lease.models });
    for (let i = 0; i < runs; i++) {
      framedMs.crop.push((await inspect(framed.jpeg, framedMeta, profile, { models: lease.models })).timingsMs.total);
      framedMs.whole.push((await inspect(framed.jpeg, framedMeta, wholeFrame, { models: lease.models })).timingsMs.total);
      framedMs.wide.push((await inspect(framed.jpeg, wideMeta, wholeFrame, { models: lease.models })).timingsMs.total);
    }
    const framedPiece = {
      photo: { width: framed.entry.width, height: framed.entry.height, mmPerPx: framed.entry.mmPerPx },
      msCropToPiece: median(framedMs.crop),
      msWholeFrame: median(framedMs.whole),
      wideField: { mmPerPx: wideMeta.mmPerPx, working: { width: wideWorking.width, height: wideWorking.height }, msWholeFrame: median(framedMs.wide) },
    };

    // Distinct 12 MP photos, each inspected once, as a worker meets them: the photo above is one scene at one scale,
    // inspected again and again; working size (the piece's scale) and content move the time per photo.
    const distinct: Array<{ index: number; working: string; ms: number; stones: StonePass | null }> = [];
    for (let index = 2; index < 2 + DISTINCT_PHOTOS; index++) {
      const s = await renderSample({ seed: 300, index, size: 4000 });
      const w = workingScale({ width: s.entry.width, height: s.entry.height }, s.entry.mmPerPx!, model.manifest.input.workingMmPerPx);
      let stones: StonePass | null = null;
      const r = await inspect(s.jpeg, { mmPerPx: s.entry.mmPerPx!, view: 'top' }, profile, { models: lease.models, onStones: (p) => (stones = p) });
      distinct.push({ index, working: `${w.width}×${w.height}`, ms: r.timingsMs.total, stones });
    }
    const distinctMs = distinct.map((d) => d.ms);
    const distinctStoneMs = distinct.flatMap((d) => (d.stones ? [d.stones.ms] : []));

    const result = {
      photo: { ...size, bytes: photo.length, mmPerPx },
      working: { width: ws.width, height: ws.height, mmPerPx: ws.mmPerPx },
      model: { id: model.id, version: model.version },
      runs,
      cores: availableParallelism(),
      // glibc's allocator as cli/bin/tuned-node.sh sets it (npm run bench does), or its defaults (tsx run directly).
      mallocTuned: mallocTuned(),
      rssMb: Math.round(process.memoryUsage().rss / 1048576),
      msPerStage: med,
      overlayMs: median(overlayMs),
      nonModelToModelRatio: nonModel / med.inference!,
      ortSessionRunMs: median(ortTimes),
      torchEager: torch,
      torchToOrtRatio: 'msMedian' in torch ? torch.msMedian / median(ortTimes) : null,
      // bench_torch.py runs the whole network from weights.pt; a version cut to the outputs it reads runs less in ONNX.
      torchRunsMoreHeads: !model.manifest.outputs.some((o) => o.name === 'evidence'),
      // Inside preprocess (patches) and inference (network) above; the search is inside post-processing's share.
      verifier: passes.length
        ? { candidates: passes[0]!.candidates, searchMs: median(passes.map((p) => p.searchMs)), patchMs: median(passes.map((p) => p.patchMs)), networkMs: median(passes.map((p) => p.networkMs)) }
        : null,
      // Inside post-processing's share: the heat peaks and their outlines measured in the photo.
      stones: stonePasses.length ? { found: stonePasses[0]!.stones, ms: median(stonePasses.map((p) => p.ms)) } : null,
      framedPiece,
      distinctPhotos: {
        seed: 300,
        photos: distinct,
        msMedian: median(distinctMs),
        msMax: Math.max(...distinctMs),
        stoneMsMedian: median(distinctStoneMs),
        stoneMsMax: Math.max(...distinctStoneMs),
      },
      coldStart: { firstInspectMs: coldFirstMs, warmUpRuns: DEFAULT_WORKER_WARMUP_RUNS, warmUpMs, firstInspectAfterWarmUpMs: warmFirstMs },
      createdAt: new Date().toISOString(),
    };
    const rows: Array<[string, string]> = [
      ['glibc allocator', result.mallocTuned ? 'tuned (cli/bin/tuned-node.sh)' : 'defaults (run through npm run bench to tune)'],
      ['resident memory after the runs', `${result.rssMb} MB`],
      ['photo', `${size.width}×${size.height} JPEG ${(photo.length / 1e6).toFixed(1)} MB at ${mmPerPx.toFixed(4)} mm/px → working ${ws.width}×${ws.height}`],
      ...Object.entries(med).map(([k, v]) => [k, `${v.toFixed(0)} ms`] as [string, string]),
      ['overlay (not on the timed path)', `${result.overlayMs.toFixed(0)} ms`],
      ['non-model / model time', result.nonModelToModelRatio.toFixed(2)],
      ['onnxruntime session.run alone', `${result.ortSessionRunMs.toFixed(0)} ms`],
      [
        'verifier (within the stages above)',
        result.verifier
          ? `${result.verifier.candidates} candidates: search ${result.verifier.searchMs.toFixed(0)}, patches ${result.verifier.patchMs.toFixed(0)}, network ${result.verifier.networkMs.toFixed(0)} ms`
          : 'none in this model',
      ],
      ['stones (within post-process)', result.stones ? `${result.stones.found} found, measured in ${result.stones.ms.toFixed(0)} ms` : 'none'],
      [
        'PyTorch eager, same tensor',
        'msMedian' in torch
          ? `${torch.msMedian.toFixed(0)} ms (×${result.torchToOrtRatio!.toFixed(2)} of onnxruntime)${result.torchRunsMoreHeads ? ', every head: the ONNX graph leaves some out (prune_outputs.py)' : ''}`
          : torch.error,
      ],
      ['first photo, cold session', `${coldFirstMs.toFixed(0)} ms; after the worker's warm-up (networks ${DEFAULT_WORKER_WARMUP_RUNS} runs, then the samples: ${warmUpMs.toFixed(0)} ms) ${warmFirstMs.toFixed(0)} ms`],
      [
        'framed pendant, total',
        `${framed.entry.width}×${framed.entry.height}: ${framedPiece.msCropToPiece.toFixed(0)} ms on the piece's box, ${framedPiece.msWholeFrame.toFixed(0)} ms on the whole frame; as a ${WIDE_FIELD_MM} mm field (working ${wideWorking.width}×${wideWorking.height}) on the whole frame ${framedPiece.wideField.msWholeFrame.toFixed(0)} ms`,
      ],
      [
        `${DISTINCT_PHOTOS} other 12 MP photos, once each`,
        `median ${median(distinctMs).toFixed(0)} ms, max ${Math.max(...distinctMs).toFixed(0)} ms (${distinct.map((d) => `${d.working} ${d.ms.toFixed(0)}`).join(', ')})`,
      ],
      [
        `  their stones (within post-process)`,
        `median ${median(distinctStoneMs).toFixed(0)} ms, max ${Math.max(...distinctStoneMs).toFixed(0)} ms (${distinct.map((d) => `${d.stones?.stones ?? 0} in ${d.stones?.ms.toFixed(0) ?? '-'}`).join(', ')})`,
      ],
    ];
    process.stdout.write(rows.map(([k, v]) => `${k.padEnd(34)} ${v}`).join('\n') + '\n');
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`wrote ${outFile}\n`);
  } finally {
    lease.release();
    await registry.close();
  }
}

await main();
