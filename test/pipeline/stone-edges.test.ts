import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { DecodedRgb } from '../../pipeline/decode.js';
import { crownEvidence, luminance, measureStoneRow, outlineTrusted, photoNoise } from '../../pipeline/postprocess/stone-edges.js';
import { detectStones } from '../../pipeline/postprocess/stones.js';
import { H, heatMap, nearest, OP, peaksFor, renderRow, row, W, type Crown, type RowLook, type Seat } from './stone-row-photos.js';

/** The model's radius plane: 24 px for stones of 20, so a radius taken from the photo is told from the model's. */
const modelRadius = (r = 24) => new Float32Array(W * H).fill(r);

/** The photo after a JPEG round trip (quality 90), as an uploaded photo reaches the pipeline. */
async function jpeg(photo: DecodedRgb): Promise<DecodedRgb> {
  const bytes = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Every one of the row's eight seats found within 0.5 px of its centre and 1 px of its 20 px radius. */
function expectSeatsFound(seats: Seat[], heat: Parameters<typeof detectStones>[0], photo: Parameters<typeof luminance>[0]): void {
  const stones = detectStones(heat, modelRadius(), W, H, OP, photo);
  expect(stones).toHaveLength(8);
  for (const seat of seats) {
    const s = nearest(stones, seat.x, seat.y);
    expect(Math.abs(s.r - 20)).toBeLessThan(1);
    expect(Math.hypot(s.x - seat.x, s.y - seat.y)).toBeLessThan(0.5);
  }
}

describe('stone outlines fall back to the model where the photo shows no facets', () => {
  it.each<[Crown, 'raw' | 'jpeg']>([
    ['flat', 'raw'],
    ['flat', 'jpeg'],
    ['dome', 'raw'],
    ['dome', 'jpeg'],
  ])('keeps the heat-map stones for a row of %s-topped stones (%s), exactly as without the photo', async (crown, format) => {
    const seats = row(8, () => ({ crown }));
    const rendered = renderRow(W, H, seats);
    const photo = format === 'jpeg' ? await jpeg(rendered) : rendered;
    const heat = heatMap(W, H, peaksFor(seats));
    const blind = detectStones(heat, modelRadius(), W, H, OP);
    expect(blind).toHaveLength(8);
    expect(detectStones(heat, modelRadius(), W, H, OP, photo)).toEqual(blind);
    const lum = luminance(photo);
    const measured = measureStoneRow(lum, W, H, blind);
    expect(measured.stones.every((s) => !s.measured)).toBe(true);
  });

  it('measures faceted stones in the photo: radius and centre from the crown, not the model', async () => {
    const seats = row(8);
    const heat = heatMap(W, H, peaksFor(seats));
    for (const photo of [renderRow(W, H, seats), await jpeg(renderRow(W, H, seats))]) {
      expectSeatsFound(seats, heat, photo);
      const blind = detectStones(heat, modelRadius(), W, H, OP);
      expect(measureStoneRow(luminance(photo), W, H, blind).stones.every((s) => s.measured)).toBe(true);
    }
  });

  it("keeps the model's centre for the smooth stones in a faceted row, their model radii on the row's scale, and measures the rest", () => {
    // The radius plane reads every stone at 0.65 x its girdle (13 px for 20), and the smooth stone 5 at half its row's.
    const seats = row(8, (i) => (i === 3 || i === 5 ? { crown: 'flat' } : {}));
    const radius = modelRadius(13);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (Math.hypot(x - seats[5]!.x, y - seats[5]!.y) < 8) radius[y * W + x] = 6.5;
    const heat = heatMap(W, H, peaksFor(seats));
    const blind = detectStones(heat, radius, W, H, OP);
    const stones = detectStones(heat, radius, W, H, OP, renderRow(W, H, seats));
    expect(stones).toHaveLength(8);
    for (const [i, r] of [
      [3, 20],
      [5, 10],
    ] as const) {
      const smooth = nearest(stones, seats[i]!.x, seats[i]!.y);
      const heatStone = nearest(blind, seats[i]!.x, seats[i]!.y);
      expect([smooth.x, smooth.y]).toEqual([heatStone.x, heatStone.y]);
      expect(Math.abs(smooth.r - r)).toBeLessThan(1);
    }
    for (const [i, seat] of seats.entries()) {
      if (i === 3 || i === 5) continue;
      const s = nearest(stones, seat.x, seat.y);
      expect(Math.abs(s.r - 20)).toBeLessThan(1);
      expect(Math.hypot(s.x - seat.x, s.y - seat.y)).toBeLessThan(0.5);
    }
  });

  it("keeps the model's stones when the photo's radius is more than three times the model's", () => {
    const seats = row(8);
    const heat = heatMap(W, H, peaksFor(seats));
    const blind = detectStones(heat, modelRadius(6), W, H, OP);
    expect(detectStones(heat, modelRadius(6), W, H, OP, renderRow(W, H, seats))).toEqual(blind);
  });

  it('trusts the outline of a faceted crown, and no outline around a flat disc, whether drawn too small or too large', () => {
    const [x, y] = [row(8)[2]!.x, row(8)[2]!.y];
    const faceted = luminance(renderRow(W, H, row(8)));
    expect(outlineTrusted(crownEvidence(faceted, W, H, x, y, 20), 20, 24)).toBe(true);
    const flat = luminance(renderRow(W, H, row(8, () => ({ crown: 'flat' }))));
    for (const r of [14, 20, 25, 30]) {
      const e = crownEvidence(flat, W, H, x, y, r);
      // The disc's rim inside a too-large outline does not count: the crown must be textured throughout.
      expect(e.crown).toBeLessThan(e.noise);
      expect(outlineTrusted(e, r, 24)).toBe(false);
    }
  });
});

describe('stone centres where a sparkle pulled the heat peak off the stone', () => {
  it.each([
    [6, -4],
    [-3, 8],
  ])('finds the centre of a stone whose heat peak sits on a sparkle (%d, %d) px away, and keeps the others', async (dx, dy) => {
    const seats = row(8, (i) => (i === 3 ? { sparkle: { dx, dy } } : {}));
    const heat = heatMap(W, H, peaksFor(seats));
    for (const photo of [renderRow(W, H, seats), await jpeg(renderRow(W, H, seats))]) {
      expectSeatsFound(seats, heat, photo);
    }
  });
});

describe('stone centres where the heat peak sits a few px off a stone with no sparkle to blame', () => {
  /** A softer photo than the fixture's [1 2 1] blur, as the 1024-px renders are: the circle votes' basin broadens. */
  async function soft(photo: DecodedRgb): Promise<DecodedRgb> {
    const { data, info } = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } }).blur(1.5).raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  }

  it.each<[string, number, number, (i: number) => Partial<Seat>, RowLook]>([
    ['pavé beads', 3, 0, () => ({}), { beads: true }],
    ['pavé beads', 0, 3, () => ({}), { beads: true }],
    ['seats lit by two lamps', 3, 0, () => ({ lit: 0.5 }), {}],
  ])('finds the centre of a stone (%s) whose heat peak sits (%d, %d) px off it, not the peak', async (_, dx, dy, over, look) => {
    // Stone 2's peak 3 px off: the sharpest centre lies beyond the 2-px search, and the votes' gain is under OUTLINE_GAIN.
    const seats = row(8, over);
    const peaks = peaksFor(seats).map((p, i) => (i === 2 ? { ...p, x: seats[2]!.x + dx, y: seats[2]!.y + dy } : p));
    const stones = detectStones(heatMap(W, H, peaks), modelRadius(), W, H, OP, await soft(renderRow(W, H, seats, look)));
    expect(stones).toHaveLength(8);
    const s = nearest(stones, seats[2]!.x, seats[2]!.y);
    expect(Math.hypot(s.x - seats[2]!.x, s.y - seats[2]!.y)).toBeLessThan(0.8);
  });
});

describe('girdle radius where the facet texture ends inside the girdle', () => {
  const blindStones = (seats: Seat[]) => detectStones(heatMap(W, H, peaksFor(seats)), modelRadius(), W, H, OP);

  it('measures a row in a dark channel to its girdle, not to the bright rim of broad outer facets inside it', () => {
    // The strongest rise is where the crown's middle facets meet the bright rim; the stone's edge is the fall to the channel.
    const seats = row(8, () => ({ rim: { level: 180 } }));
    const measured = measureStoneRow(luminance(renderRow(W, H, seats, { metal: 30 })), W, H, blindStones(seats));
    expect(Math.abs(measured.radius! - 20)).toBeLessThan(1);
    for (const s of measured.stones) expect(Math.abs(s.r - 20)).toBeLessThan(1);
  });

  it('keeps a full stone whose broad outer facets end its fine texture early at the row radius, and still measures an undersized one', () => {
    const seats = row(8, (i) => (i === 3 ? { r: 16 } : i === 5 ? { rim: {} } : {}));
    const stones = blindStones(seats);
    const measured = measureStoneRow(luminance(renderRow(W, H, seats, { seed: 3 })), W, H, stones);
    const at = (i: number) => measured.stones[stones.indexOf(nearest(stones, seats[i]!.x, seats[i]!.y))]!;
    expect(Math.abs(at(3).r - 16)).toBeLessThan(1);
    expect(Math.abs(at(5).r - 20)).toBeLessThan(1);
  });

  it("gives every full stone of a row the row's girdle radius, sparkles or not, so equal seats give equal gaps", async () => {
    const seats = row(8, (i) => (i === 2 ? { sparkle: { dx: 7, dy: -5 } } : i === 5 ? { sparkle: { dx: -6, dy: 4 } } : {}));
    const stones = blindStones(seats);
    const measured = measureStoneRow(luminance(await jpeg(renderRow(W, H, seats, { seed: 5 }))), W, H, stones);
    expect(measured.stones.every((s) => s.measured)).toBe(true);
    const byX = [...measured.stones].sort((a, b) => a.x - b.x);
    for (const s of byX) expect(Math.abs(s.r - 20)).toBeLessThan(1);
    const gaps = byX.slice(1).map((s, i) => Math.hypot(s.x - byX[i]!.x, s.y - byX[i]!.y) - s.r - byX[i]!.r);
    const truth = seats.slice(1).map((s, i) => Math.hypot(s.x - seats[i]!.x, s.y - seats[i]!.y) - 40);
    for (const [i, g] of gaps.entries()) expect(Math.abs(g - truth[i]!)).toBeLessThan(1);
  });

  it.each<[string, Partial<Seat>]>([
    ['a deeply undersized stone, half its seat', { r: 10 }],
    ['an undersized stone whose seat two lamps light unevenly', { r: 15, lit: 0.8 }],
  ])('measures %s to its own girdle', (_, over) => {
    const seats = row(8, (i) => (i === 3 ? over : {}));
    const stones = blindStones(seats);
    const measured = measureStoneRow(luminance(renderRow(W, H, seats)), W, H, stones);
    const at = (i: number) => measured.stones[stones.indexOf(nearest(stones, seats[i]!.x, seats[i]!.y))]!;
    expect(Math.abs(at(3).r - over.r!)).toBeLessThan(1);
    for (const i of [2, 4]) expect(Math.abs(at(i).r - 20)).toBeLessThan(1);
  });
});

describe('row pitch where the strong detections stand two pitches apart', () => {
  it('measures the girdle at the pitch of the weakly detected stones between them, not at twice it', () => {
    // Every other stone's heat under half its neighbours': the strong stones' nearest peers are two pitches away.
    const seats = row(8);
    const stones = detectStones(heatMap(W, H, peaksFor(seats, (i) => (i % 2 ? 0.3 : 0.9))), modelRadius(), W, H, OP);
    expect(stones).toHaveLength(8);
    // Pavé beads between the stones give the window at twice the pitch a textured ring for its outline to pass on.
    const measured = measureStoneRow(luminance(renderRow(W, H, seats, { beads: true })), W, H, stones);
    expect(Math.abs(measured.pitch! - 44)).toBeLessThan(3);
    expect(Math.abs(measured.radius! - 20)).toBeLessThan(1);
  });
});

/**
 * The row's photo between two bands of velvet, each as tall as the row: a pile whose luminance changes from pixel to
 * pixel by more than a crown's facets do between neighbouring rays, over two thirds of the frame.
 */
function onVelvet(photo: DecodedRgb): DecodedRgb {
  const { width, height } = photo;
  const data = Buffer.alloc(width * 3 * height * 3);
  let s = 11;
  const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  for (let i = 0; i < width * height; i++) {
    const v = 30 + 120 * rand();
    for (const band of [0, 2]) data.set([v, 0.5 * v, 0.6 * v], 3 * (band * width * height + i));
  }
  photo.data.copy(data, 3 * width * height);
  return { data, width, height: 3 * height };
}

describe('photo noise on a textured backdrop', () => {
  const lifted = (seats: Seat[]) => seats.map((s) => ({ ...s, y: s.y + H }));

  it("measures a faceted row on velvet: the pile's texture is the backdrop's, not noise at the stones", () => {
    const seats = row(8);
    const photo = onVelvet(renderRow(W, H, seats));
    const heat = heatMap(W, 3 * H, peaksFor(lifted(seats)));
    const blind = detectStones(heat, new Float32Array(W * 3 * H).fill(24), W, 3 * H, OP);
    const measured = measureStoneRow(luminance(photo), W, 3 * H, blind);
    expect(measured.stones.every((s) => s.measured)).toBe(true);
    expect(Math.abs(measured.radius! - 20)).toBeLessThan(1);
  });

  it('still keeps the model stones for a row of flat-topped stones on velvet', () => {
    const seats = row(8, () => ({ crown: 'flat' }));
    const photo = onVelvet(renderRow(W, H, seats));
    const heat = heatMap(W, 3 * H, peaksFor(lifted(seats)));
    const blind = detectStones(heat, new Float32Array(W * 3 * H).fill(24), W, 3 * H, OP);
    expect(measureStoneRow(luminance(photo), W, 3 * H, blind).stones.every((s) => !s.measured)).toBe(true);
  });

  /** `photoNoise` as its comment defines it, in two plain passes: the whole photo's median |horizontal difference|,
   * capped by the tenth percentile of its noisy 32 px blocks' medians (16-bin histograms per level, blocks capped at 16). */
  function noiseByDefinition(lum: Float32Array, width: number, height: number): number {
    const bin = (d: number, top: number) => Math.min(top, Math.floor(Math.abs(d) * 16));
    const medianBin = (bins: Uint32Array, half: number) => {
      let seen = 0;
      let k = 0;
      while (k < bins.length - 1 && seen + bins[k]! < half) seen += bins[k++]!;
      return k;
    };
    const whole = new Uint32Array(4097);
    for (let y = 0; y < height; y++) for (let x = 0; x + 1 < width; x++) whole[bin(lum[y * width + x + 1]! - lum[y * width + x]!, 4096)]++;
    const medians: number[] = [];
    for (let by = 0; by + 32 <= height; by += 32) {
      for (let bx = 0; bx + 32 <= width; bx += 32) {
        const bins = new Uint32Array(257);
        for (let y = by; y < by + 32; y++) for (let x = bx; x < bx + 31; x++) bins[bin(lum[y * width + x + 1]! - lum[y * width + x]!, 256)]++;
        const k = medianBin(bins, (32 * 31) / 2);
        if (k > 0) medians.push((k + 0.5) / 16);
      }
    }
    medians.sort((a, b) => a - b);
    const blocks = medians.length ? medians[Math.floor(0.1 * medians.length)]! : Infinity;
    return Math.min((medianBin(whole, (height * Math.max(0, width - 1)) / 2) + 0.5) / 16, blocks);
  }

  it('reads the noise its definition gives, in one pass, on smooth, noisy and half-textured photos of any size', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (const [width, height] of [[160, 96], [97, 65], [64, 64], [33, 100], [31, 20]] as const) {
      for (const look of ['smooth', 'noisy', 'half'] as const) {
        const lum = new Float32Array(width * height);
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            const amplitude = look === 'smooth' ? 0.2 : look === 'noisy' ? 6 : x < width / 2 ? 40 : 1.5;
            lum[y * width + x] = 120 + 0.3 * x + amplitude * (random() - 0.5);
          }
        }
        expect(photoNoise(lum, width, height), `${width}x${height} ${look}`).toBe(noiseByDefinition(lum, width, height));
      }
    }
  });
});
