import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePhoto, probePhoto } from '../../pipeline/decode.js';
import { inspect, type PipelineMaps } from '../../pipeline/inspect.js';
import { computePieceMask, pieceGatesAt, SILHOUETTE_EDGE_PX } from '../../pipeline/piece-mask.js';
import { polishCandidates } from '../../pipeline/postprocess/polish-candidates.js';
import { detectStones } from '../../pipeline/postprocess/stones.js';
import { workingScale } from '../../pipeline/preprocess.js';
import { clearOfStones, runVerifier, verifiedKindScore } from '../../pipeline/verify.js';
import { ringProfile, SAMPLES_DIR, useShippedModel } from './helpers.js';

// A polish candidate whose verifier patch holds part of a stone (its glints, seat, prongs) does not speak for the polish.
describe('clearOfStones', () => {
  const stone = { x: 100, y: 100, r: 20 };
  const patchPx = 64;

  it('drops a candidate whose centre patch reaches a stone and keeps one clear of it', () => {
    const onStone = { x: 110, y: 100, p: 0.99 };
    const onRim = { x: 100, y: 151, p: 0.97 }; // 51 px from the centre: under r + patchPx / 2 = 52
    const clear = { x: 100, y: 152, p: 0.5 }; // exactly r + patchPx / 2 away
    const far = { x: 300, y: 40, p: 0.9 };
    expect(clearOfStones([onStone, onRim, clear, far], [stone], patchPx)).toEqual([clear, far]);
  });

  it('keeps every candidate on a piece without stones', () => {
    const cands = [{ x: 5, y: 5 }, { x: 50, y: 60 }];
    expect(clearOfStones(cands, [], patchPx)).toEqual(cands);
  });

  it('scales the exclusion with the stone, not a fixed distance', () => {
    const c = { x: 200, y: 100 };
    expect(clearOfStones([c], [{ x: 100, y: 100, r: 70 }], patchPx)).toEqual([]);
    expect(clearOfStones([c], [{ x: 100, y: 100, r: 20 }], patchPx)).toEqual([c]);
  });
});

// Through inspect(): the shipped model on a committed sample whose strongest scratch candidate sits next to a stone.
describe('inspect() line-kind scores next to stones', () => {
  const shipped = useShippedModel();

  it('scores scratch and tool mark from candidates clear of stones, haze and orange peel from all', async () => {
    const model = shipped();
    const lines = (await readFile(join(SAMPLES_DIR, 'manifest.jsonl'), 'utf8')).trim().split('\n');
    const entry = JSON.parse(lines[8]!) as { file: string; mmPerPx: number; metal: string };
    const bytes = await readFile(join(SAMPLES_DIR, entry.file));
    const profile = ringProfile();
    let maps: PipelineMaps | undefined;
    const report = await inspect(bytes, { mmPerPx: entry.mmPerPx, metal: entry.metal }, profile, { models: [model], onMaps: (m) => (maps = m) });

    // The same candidates, verifier and stones as the pipeline's, rebuilt from its maps.
    const m = maps!;
    const spec = model.manifest.verifier!;
    const header = await probePhoto(bytes, profile.decode);
    const scale = workingScale(header, entry.mmPerPx, model.manifest.input.workingMmPerPx);
    const rgb = await decodePhoto(bytes, profile.decode, scale.scaleToPhoto > 1 ? scale : undefined);
    const gates = pieceGatesAt(await computePieceMask(rgb, profile.quality), m.width, m.height, SILHOUETTE_EDGE_PX);
    const planes = spec.kinds.map((k) => m.planes.get(k)!);
    const candidates = polishCandidates(planes, m.width, m.height, gates.piece, spec.candidates);
    const verified = await runVerifier(model.verifier!, rgb, candidates, spec, model.manifest.input.normalisation);
    const stones = detectStones(m.planes.get('stone_heat')!, m.planes.get('stone_radius')!, m.width, m.height, model.manifest.operatingPoints.stones!, rgb);
    expect(stones.length).toBeGreaterThan(0);
    const clear = clearOfStones(verified, stones, spec.patchPx);

    const scores = report.families.polish.kindScores;
    const scratch = spec.kinds.indexOf('scratch');
    // The sample is chosen so the rule matters: its strongest scratch candidate is next to a stone.
    expect(verifiedKindScore(clear, scratch)).toBeLessThan(verifiedKindScore(verified, scratch) - 0.01);
    expect(scores.scratch).toBeCloseTo(verifiedKindScore(clear, scratch), 3);
    expect(scores.tool_mark).toBeCloseTo(verifiedKindScore(clear, spec.kinds.indexOf('tool_mark')), 3);
    expect(scores.haze).toBeCloseTo(verifiedKindScore(verified, spec.kinds.indexOf('haze')), 3);
    expect(scores.orange_peel).toBeCloseTo(verifiedKindScore(verified, spec.kinds.indexOf('orange_peel')), 3);
  }, 120_000);
});
