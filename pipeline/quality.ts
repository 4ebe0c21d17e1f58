import sharp from 'sharp';
import type { DecodedRgb } from './decode.js';
import type { QualityLimits } from './profile.schema.js';
import type { QualityMetrics, QualityReason } from './report.schema.js';

/**
 * The photo-quality gate. It answers "can this photo be judged?", never "is the piece good?": a failing photo makes
 * the report a `retake` with the reasons, whatever the models find.
 *
 * All metrics are computed on a grey copy downscaled to `analysisMaxSide`, so the cost does not grow with the camera.
 */

// MAD of a normal distribution is 0.6745 sigma; 3 sigma of the border's own noise never counts as "piece".
const MAD_TO_SIGMA = 1.4826;
const BORDER_NOISE_SIGMAS = 3;

export interface QualityResult {
  ok: boolean;
  reasons: QualityReason[];
  metrics: QualityMetrics;
}

async function greyCopy(rgb: DecodedRgb, maxSide: number): Promise<{ grey: Uint8Array; width: number; height: number }> {
  const scale = Math.min(1, maxSide / Math.max(rgb.width, rgb.height));
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

function histogramMedian(hist: Uint32Array, total: number): number {
  let acc = 0;
  for (let v = 0; v < hist.length; v++) {
    acc += hist[v]!;
    if (acc * 2 >= total) return v;
  }
  return hist.length - 1;
}

/** Median and MAD of the border strip's luma: the background model "not the piece". */
function borderModel(grey: Uint8Array, w: number, h: number, strip: number): { median: number; mad: number } {
  const hist = new Uint32Array(256);
  let n = 0;
  for (let y = 0; y < h; y++) {
    const inRowBand = y < strip || y >= h - strip;
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (inRowBand || x < strip || x >= w - strip) {
        hist[grey[row + x]!]!++;
        n++;
      }
    }
  }
  const median = histogramMedian(hist, n);
  const dev = new Uint32Array(256);
  for (let v = 0; v < 256; v++) dev[Math.abs(v - median)]! += hist[v]!;
  return { median, mad: histogramMedian(dev, n) };
}

/**
 * An edge's contrast is the luma range around it: max - min over about 13 x 13 px (2x2 blocks, +-3 blocks), which
 * covers edges blurred up to sigma ~4 px. Block extrema keep the range exact at a quarter of the cost.
 */
const CONTRAST_RADIUS_BLOCKS = 3;
/** The edge-centre pixels are the steepest ones; this percentile of slope/contrast picks them, not the shoulders. */
const EDGE_PERCENTILE = 0.9;

/** Local luma range per 2x2 block: max over the block window minus min over it. */
function blockRange(g: Float32Array, w: number, h: number, r: number): { range: Float32Array; bw: number } {
  const bw = Math.ceil(w / 2);
  const bh = Math.ceil(h / 2);
  const bmax = new Float32Array(bw * bh).fill(-Infinity);
  const bmin = new Float32Array(bw * bh).fill(Infinity);
  for (let y = 0; y < h; y++) {
    const brow = (y >> 1) * bw;
    for (let x = 0; x < w; x++) {
      const v = g[y * w + x]!;
      const b = brow + (x >> 1);
      if (v > bmax[b]!) bmax[b] = v;
      if (v < bmin[b]!) bmin[b] = v;
    }
  }
  // Separable running extrema over the blocks (rows, then columns).
  const tmax = new Float32Array(bw * bh);
  const tmin = new Float32Array(bw * bh);
  for (let y = 0; y < bh; y++) {
    const row = y * bw;
    for (let x = 0; x < bw; x++) {
      let mx = -Infinity;
      let mn = Infinity;
      const to = Math.min(bw - 1, x + r);
      for (let k = Math.max(0, x - r); k <= to; k++) {
        if (bmax[row + k]! > mx) mx = bmax[row + k]!;
        if (bmin[row + k]! < mn) mn = bmin[row + k]!;
      }
      tmax[row + x] = mx;
      tmin[row + x] = mn;
    }
  }
  const range = new Float32Array(bw * bh);
  for (let y = 0; y < bh; y++) {
    const from = Math.max(0, y - r);
    const to = Math.min(bh - 1, y + r);
    for (let x = 0; x < bw; x++) {
      let mx = -Infinity;
      let mn = Infinity;
      for (let k = from; k <= to; k++) {
        if (tmax[k * bw + x]! > mx) mx = tmax[k * bw + x]!;
        if (tmin[k * bw + x]! < mn) mn = tmin[k * bw + x]!;
      }
      range[y * bw + x] = mx - mn;
    }
  }
  return { range, bw };
}

/**
 * Edge sharpness: at real edges (local luma range >= `minContrast`), the steepest slope per unit of contrast. For an
 * edge blurred by a Gaussian of sigma s px the slope is contrast / (sqrt(2 pi) s), so the measure is about
 * 0.4 / s: independent of exposure and of how much of the frame the piece fills. The slope is taken on a 3x3
 * binomial-smoothed copy (Sobel), so sensor noise and 8-bit quantisation, which dominate a plain Laplacian variance,
 * do not count as detail.
 */
function sharpness(grey: Uint8Array, w: number, h: number, minContrast: number): number {
  if (w < 3 || h < 3) return 0;
  const g = new Float32Array(grey);
  const s = new Float32Array(g.length);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      s[i] =
        (4 * g[i]! + 2 * (g[i - 1]! + g[i + 1]! + g[i - w]! + g[i + w]!) + g[i - w - 1]! + g[i - w + 1]! + g[i + w - 1]! + g[i + w + 1]!) / 16;
    }
  }
  const { range, bw } = blockRange(g, w, h, CONTRAST_RADIUS_BLOCKS);
  const ratios = new Float32Array(w * h);
  let n = 0;
  for (let y = 2; y < h - 2; y++) {
    const brow = (y >> 1) * bw;
    for (let x = 2; x < w - 2; x++) {
      const contrast = range[brow + (x >> 1)]!;
      if (contrast < minContrast) continue;
      const i = y * w + x;
      const gx = (s[i - w + 1]! + 2 * s[i + 1]! + s[i + w + 1]! - s[i - w - 1]! - 2 * s[i - 1]! - s[i + w - 1]!) / 8;
      const gy = (s[i + w - 1]! + 2 * s[i + w]! + s[i + w + 1]! - s[i - w - 1]! - 2 * s[i - w]! - s[i - w + 1]!) / 8;
      ratios[n++] = Math.sqrt(gx * gx + gy * gy) / contrast;
    }
  }
  if (n === 0) return 0;
  const sorted = ratios.subarray(0, n).sort();
  return sorted[Math.min(n - 1, Math.floor(EDGE_PERCENTILE * n))]!;
}

export async function assessQuality(rgb: DecodedRgb, photo: { width: number; height: number }, limits: QualityLimits): Promise<QualityResult> {
  const { grey, width: w, height: h } = await greyCopy(rgb, limits.analysisMaxSide);
  const n = w * h;
  const strip = Math.max(1, Math.round(limits.borderFraction * Math.min(w, h)));
  const border = borderModel(grey, w, h, strip);
  const pieceDelta = Math.max(limits.pieceContrast * 255, BORDER_NOISE_SIGMAS * MAD_TO_SIGMA * border.mad);
  const clipHigh = limits.clipHighLuma * 255;
  const clipLow = limits.clipLowLuma * 255;

  let piece = 0;
  let pieceSum = 0;
  let pieceHigh = 0;
  let pieceLow = 0;
  let allSum = 0;
  let allHigh = 0;
  let allLow = 0;
  for (let i = 0; i < n; i++) {
    const v = grey[i]!;
    allSum += v;
    const high = v >= clipHigh ? 1 : 0;
    const low = v <= clipLow ? 1 : 0;
    allHigh += high;
    allLow += low;
    if (Math.abs(v - border.median) > pieceDelta) {
      piece++;
      pieceSum += v;
      pieceHigh += high;
      pieceLow += low;
    }
  }
  const pieceFraction = piece / n;
  const hasPiece = pieceFraction >= limits.minPieceFraction;
  // Exposure and clipping are judged on the piece: a white seamless background is meant to be blown out.
  const base = hasPiece ? piece : n;
  const metrics: QualityMetrics = {
    sharpness: sharpness(grey, w, h, limits.pieceContrast * 255),
    meanLuma: (hasPiece ? pieceSum : allSum) / base / 255,
    clippedHigh: (hasPiece ? pieceHigh : allHigh) / base,
    clippedLow: (hasPiece ? pieceLow : allLow) / base,
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
      message: `no piece in frame: ${(pieceFraction * 100).toFixed(1)} % of the photo differs from the background (need ${(limits.minPieceFraction * 100).toFixed(1)} %)`,
      measured: pieceFraction,
      limit: limits.minPieceFraction,
    });
  }
  if (metrics.sharpness < limits.minSharpness) {
    reasons.push({
      code: 'blurred',
      message: `blurred: sharpness ${metrics.sharpness.toFixed(3)} below ${limits.minSharpness}`,
      measured: metrics.sharpness,
      limit: limits.minSharpness,
    });
  }
  return { ok: reasons.length === 0, reasons, metrics };
}
