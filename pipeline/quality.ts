import sharp from 'sharp';
import type { DecodedRgb } from './decode.js';
import { histogramMedian } from './histogram.js';
import { pieceMaskAt, type PieceMask } from './piece-mask.js';
import type { QualityLimits } from './profile.schema.js';
import type { QualityMetrics, QualityReason } from './report.schema.js';

/**
 * The photo-quality gate. It answers "can this photo be judged?", never "is the piece good?": a failing photo makes
 * the report a `retake` with the reasons, whatever the models find.
 *
 * All metrics are computed on a grey copy downscaled to `analysisMaxSide`, so the cost does not grow with the camera.
 */

// 3 sigma of the backdrop's own noise never counts as "piece".
const BORDER_NOISE_SIGMAS = 3;

export interface QualityResult {
  ok: boolean;
  reasons: QualityReason[];
  metrics: QualityMetrics;
}

/** The grey copy every metric is computed on, at most `analysisMaxSide` on its long side. */
export interface GreyCopy {
  grey: Uint8Array;
  width: number;
  height: number;
}

/**
 * Makes the grey copy (`judgeQuality`'s input). The work happens in libvips' threads, so `inspect` starts it before
 * computing the piece mask and the two overlap.
 */
export async function qualityCopy(rgb: DecodedRgb, limits: QualityLimits): Promise<GreyCopy> {
  const scale = Math.min(1, limits.analysisMaxSide / Math.max(rgb.width, rgb.height));
  const width = Math.max(1, Math.round(rgb.width * scale));
  const height = Math.max(1, Math.round(rgb.height * scale));
  const { data, info } = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 1) throw new Error(`grey copy has ${info.channels} channels`);
  return { grey: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/**
 * The background model from the border strip: its most common luma (the mode, so a piece that fills the frame and
 * touches two sides does not drag the background towards metal) and its noise, from neighbour differences (so the
 * transition from backdrop to metal inside the strip does not count as noise).
 */
function borderModel(grey: Uint8Array, w: number, h: number, strip: number): { mode: number; noise: number } {
  const hist = new Uint32Array(256);
  const diffs = new Uint32Array(256);
  let n = 0;
  let nd = 0;
  const visit = (row: number, from: number, to: number) => {
    for (let x = from; x < to; x++) {
      const v = grey[row + x]!;
      hist[v]!++;
      n++;
      if (x + 1 < w) {
        diffs[Math.abs(grey[row + x + 1]! - v)]!++;
        nd++;
      }
    }
  };
  // Only the strip's pixels: whole rows at the top and bottom, both ends of the rows between.
  for (let y = 0; y < h; y++) {
    const row = y * w;
    if (y < strip || y >= h - strip) {
      visit(row, 0, w);
      continue;
    }
    visit(row, 0, Math.min(strip, w));
    visit(row, Math.max(strip, w - strip), w);
  }
  let mode = 0;
  let best = -1;
  for (let v = 0; v < 256; v++) {
    // +-2 levels of smoothing, so JPEG noise does not split the peak.
    let s = 0;
    for (let k = Math.max(0, v - 2); k <= Math.min(255, v + 2); k++) s += hist[k]!;
    if (s > best) {
      best = s;
      mode = v;
    }
  }
  // The difference of two pixels with noise sigma has MAD 0.954 sigma (sqrt 2 x 0.6745).
  const noise = (histogramMedian(diffs, nd) / 0.954) || 0;
  return { mode, noise };
}

/** Taps of the re-blurring box filter (Crete-Roffet et al. 2007 use 9). */
const REBLUR_TAPS = 9;

/**
 * No-reference blur (Crete-Roffet, Dolmiere, Ladret, Nicolas, "The blur effect: perception and estimation with a new
 * no-reference perceptual blur metric", SPIE 2007): re-blur the image with a 9-tap box along each axis and measure
 * how much of its pixel-to-pixel variation that removes. A sharp photo loses a lot, an already blurred one little.
 * 0 = sharp, 1 = flat. Contrast-normalised by construction, so exposure and how much of the frame the piece fills do
 * not move it. Chosen over edge-slope and Laplacian-variance measures because, on the synthetic generator's photos
 * (camera blur 0.5-1.4 px, noise, JPEG), it separates added blur of sigma >= 2.5 px from the originals; the others
 * did not (noise and texture dominate them).
 */
function blurMeasure(grey: Uint8Array, w: number, h: number): number {
  if (w < 2 || h < 2) return 1;
  const half = REBLUR_TAPS >> 1;
  // One pass, row by row: this row's horizontal re-blur, and the vertical re-blur of this row and of the one above it
  // (running sums per column), as float32 like the whole re-blurred images they replace; the sums run in the same
  // order as over whole images, so the measure is the same to the last bit.
  const bh = new Float32Array(w);
  let bv = new Float32Array(w);
  let bvAbove = new Float32Array(w);
  const colSum = new Int32Array(w);
  for (let k = -half; k <= half; k++) {
    const row = Math.min(h - 1, Math.max(0, k)) * w;
    for (let x = 0; x < w; x++) colSum[x]! += grey[row + x]!;
  }
  let sFh = 0;
  let sVh = 0;
  let sFv = 0;
  let sVv = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    // Running box sums with edge replication.
    let sum = 0;
    for (let k = -half; k <= half; k++) sum += grey[row + Math.min(w - 1, Math.max(0, k))]!;
    for (let x = 0; x < w; x++) {
      bh[x] = sum / REBLUR_TAPS;
      sum += grey[row + Math.min(w - 1, x + half + 1)]! - grey[row + Math.max(0, x - half)]!;
    }
    const add = Math.min(h - 1, y + half + 1) * w;
    const drop = Math.max(0, y - half) * w;
    for (let x = 0; x < w; x++) {
      bv[x] = colSum[x]! / REBLUR_TAPS;
      colSum[x]! += grey[add + x]! - grey[drop + x]!;
    }
    if (y > 0) {
      for (let x = 1; x < w; x++) {
        const i = row + x;
        const dFh = Math.abs(grey[i]! - grey[i - 1]!);
        const dBh = Math.abs(bh[x]! - bh[x - 1]!);
        const dFv = Math.abs(grey[i]! - grey[i - w]!);
        const dBv = Math.abs(bv[x]! - bvAbove[x]!);
        sFh += dFh;
        sFv += dFv;
        if (dFh > dBh) sVh += dFh - dBh;
        if (dFv > dBv) sVv += dFv - dBv;
      }
    }
    const done = bvAbove;
    bvAbove = bv;
    bv = done;
  }
  if (sFh === 0 || sFv === 0) return 1;
  return Math.max((sFh - sVh) / sFh, (sFv - sVv) / sFv);
}

/**
 * `piece` is the photo's piece mask (`computePieceMask`): exposure and clipping are judged on it. Where it fell back
 * to the whole frame, they are judged on the pixels unlike the border's most common grey, as before the mask existed.
 * "No piece" stays the share of pixels unlike the border grey: a frame-filling piece, for which the mask falls back,
 * is still a piece.
 */
export async function assessQuality(
  rgb: DecodedRgb,
  photo: { width: number; height: number },
  limits: QualityLimits,
  piece: PieceMask,
): Promise<QualityResult> {
  return judgeQuality(await qualityCopy(rgb, limits), photo, limits, piece);
}

/** `assessQuality` on a grey copy made beforehand (`qualityCopy`). */
export function judgeQuality(copy: GreyCopy, photo: { width: number; height: number }, limits: QualityLimits, piece: PieceMask): QualityResult {
  const { grey, width: w, height: h } = copy;
  const onPiece = piece.source === 'piece' ? pieceMaskAt(piece, w, h) : null;
  const n = w * h;
  const strip = Math.max(1, Math.round(limits.borderFraction * Math.min(w, h)));
  const border = borderModel(grey, w, h, strip);
  const pieceDelta = Math.max(limits.pieceContrast * 255, BORDER_NOISE_SIGMAS * border.noise);
  const clipHigh = limits.clipHighLuma * 255;
  const clipLow = limits.clipLowLuma * 255;

  // Pixel count, luma sum, clipped high, clipped low: over the piece mask, over the pixels unlike the border, and all.
  // Each is a function of the grey level, so they come from two histograms (every pixel, the piece's pixels).
  const histAll = new Float64Array(256);
  const histPiece = new Float64Array(256);
  for (let i = 0; i < n; i++) histAll[grey[i]!]!++;
  if (onPiece !== null) for (let i = 0; i < n; i++) if (onPiece[i]) histPiece[grey[i]!]!++;
  const totals = (hist: Float64Array, use: (v: number) => boolean): [number, number, number, number] => {
    const t: [number, number, number, number] = [0, 0, 0, 0];
    for (let v = 0; v < 256; v++) {
      const c = hist[v]!;
      if (c === 0 || !use(v)) continue;
      t[0] += c;
      t[1] += c * v;
      if (v >= clipHigh) t[2] += c;
      if (v <= clipLow) t[3] += c;
    }
    return t;
  };
  const onMask = totals(histPiece, () => true);
  const unlike = totals(histAll, (v) => Math.abs(v - border.mode) > pieceDelta);
  const all = totals(histAll, () => true);
  const pieceFraction = unlike[0] / n;
  const hasPiece = pieceFraction >= limits.minPieceFraction;
  // Exposure and clipping are judged on the piece: a white seamless background is meant to be blown out.
  const [count, sum, high, low] = onMask[0] > 0 ? onMask : hasPiece ? unlike : all;
  const metrics: QualityMetrics = {
    blur: blurMeasure(grey, w, h),
    meanLuma: sum / count / 255,
    clippedHigh: high / count,
    clippedLow: low / count,
    pieceFraction,
    analysisWidth: w,
    analysisHeight: h,
  };

  const reasons: QualityReason[] = [];
  const minSide = Math.min(photo.width, photo.height);
  if (minSide < limits.minImageSide) {
    reasons.push({
      code: 'low_resolution',
      message: `the photo's short side is ${minSide} px; at least ${limits.minImageSide} px are needed`,
      measured: minSide,
      limit: limits.minImageSide,
    });
  }
  if (metrics.meanLuma < limits.minMeanLuma) {
    reasons.push({
      code: 'underexposed',
      message: `too dark: mean luma ${metrics.meanLuma.toFixed(2)} below ${limits.minMeanLuma}`,
      measured: metrics.meanLuma,
      limit: limits.minMeanLuma,
    });
  } else if (metrics.meanLuma > limits.maxMeanLuma) {
    reasons.push({
      code: 'overexposed',
      message: `too bright: mean luma ${metrics.meanLuma.toFixed(2)} above ${limits.maxMeanLuma}`,
      measured: metrics.meanLuma,
      limit: limits.maxMeanLuma,
    });
  }
  const clipped = Math.max(metrics.clippedHigh, metrics.clippedLow);
  if (clipped > limits.maxClippedFraction) {
    const side = metrics.clippedHigh >= metrics.clippedLow ? 'blown highlights' : 'crushed shadows';
    reasons.push({
      code: 'clipped',
      message: `${side} on ${(clipped * 100).toFixed(0)} % of the piece (limit ${(limits.maxClippedFraction * 100).toFixed(0)} %)`,
      measured: clipped,
      limit: limits.maxClippedFraction,
    });
  }
  if (!hasPiece) {
    reasons.push({
      code: 'no_piece',
      // A flat face that fills the frame looks like an empty backdrop to this measure (the border is metal too), and
      // macro shots do that; the operator is told how to take a photo that can be judged, not only that this one cannot.
      message:
        `no piece in frame: ${(pieceFraction * 100).toFixed(1)} % of the photo differs from its border (need ${(limits.minPieceFraction * 100).toFixed(1)} %); ` +
        'if the piece fills the frame, step back until one of its edges shows',
      measured: pieceFraction,
      limit: limits.minPieceFraction,
    });
  }
  if (metrics.blur > limits.maxBlur) {
    reasons.push({
      code: 'blurred',
      message: `blurred: blur ${metrics.blur.toFixed(3)} above ${limits.maxBlur} (0 = sharp, 1 = flat)`,
      measured: metrics.blur,
      limit: limits.maxBlur,
    });
  }
  return { ok: reasons.length === 0, reasons, metrics };
}
