import type { DecodedRgb } from '../decode.js';

/**
 * Stone outlines measured in the photo itself. loupe-seg 1.0.0's radius regression answers ~40 px for stones of
 * 15-100 px, so the gap (centre distance minus two radii) cannot come from it; the photo shows the girdle directly.
 *
 * What is measured, per row of stones, in working pixels:
 * - Rays from each stone's centre, luminance sampled bilinearly every 1/4 px, at radii from 0.3 to 0.5 of the row's
 *   median neighbour distance plus 2 px (a stone cannot overlap its neighbour; a set stone is never narrower than its
 *   gap is wide, well inside 0.3).
 * - Two profiles, averaged over rays and over the row's stones (one calibre per row):
 *   the outward luminance rise (girdle dark -> metal bright; it marks either the girdle or the edge of the seat cut
 *   just outside it, which is concentric), and the facet texture, the mean absolute luminance change between
 *   neighbouring rays: high over the faceted crown, low over the smooth metal of the seat.
 * - The row's radius is where the texture falls fastest, searched from a little inside the strongest rise to a
 *   little outside it (the rise can sit on the seat cut a few percent outside the girdle, or, in a dark channel, on
 *   the channel wall further out). On the dev photos the texture edge is within ~0.5 px of the true girdle where the
 *   strongest rise alone was off by up to 0.07 r.
 * - Each stone's centre is the centre of a circle fitted to the per-ray steepest rise near the row's rise radius
 *   (iteratively reweighted least squares on d(theta) = R + dx cos(theta) + dy sin(theta), Tukey weights, so rays
 *   through a prong or a glint drop out); each stone's radius is its own texture edge near the row's.
 */

export interface RowStone {
  x: number;
  y: number;
  r: number;
  /** Peak heat: weighs the stone's vote for the row's pitch. */
  confidence: number;
}

export interface MeasuredStone {
  x: number;
  y: number;
  r: number;
  /** True when centre and radius come from the photo; false: the input stone, unchanged. */
  measured: boolean;
}

/** Rec. 601 luma, one float per pixel. */
export function luminance(rgb: DecodedRgb): Float32Array {
  const n = rgb.width * rgb.height;
  const out = new Float32Array(n);
  const d = rgb.data;
  for (let i = 0, o = 0; i < n; i++, o += 3) out[i] = 0.299 * d[o]! + 0.587 * d[o + 1]! + 0.114 * d[o + 2]!;
  return out;
}

/** Radial sampling step, px: fine enough that the parabola refinement, not the grid, limits an edge's position. */
const STEP = 0.25;
/** Half-width of the radial finite difference, in steps (±0.75 px): smooths JPEG noise, keeps a 2-px edge. */
const DIFF = 3;
/** Radius search window as fractions of the row's median neighbour distance (see the module comment). */
const MIN_R_OF_PITCH = 0.3;
const MAX_R_OF_PITCH = 0.5;

interface Polar {
  /** Rays x samples, luminance. */
  lum: Float32Array;
  rays: number;
  samples: number;
  /** Radius of sample 0. */
  first: number;
}

function makeSampler(lum: Float32Array, width: number, height: number): (x: number, y: number) => number {
  return (x, y) => {
    const cx = Math.max(0, Math.min(width - 1.001, x));
    const cy = Math.max(0, Math.min(height - 1.001, y));
    const x0 = Math.floor(cx);
    const y0 = Math.floor(cy);
    const fx = cx - x0;
    const fy = cy - y0;
    const i = y0 * width + x0;
    const a = lum[i]! + (lum[i + 1]! - lum[i]!) * fx;
    const b = lum[i + width]! + (lum[i + width + 1]! - lum[i + width]!) * fx;
    return a + (b - a) * fy;
  };
}

/** About one ray per 2 px of circumference: at least 32, at most 128. */
const rayCount = (r: number): number => Math.max(32, Math.min(128, Math.round((2 * Math.PI * r) / 2)));

function polar(at: (x: number, y: number) => number, x: number, y: number, lo: number, hi: number, rays: number): Polar {
  const first = lo - DIFF * STEP;
  const samples = Math.ceil((hi - lo) / STEP) + 2 * DIFF + 1;
  const lum = new Float32Array(rays * samples);
  for (let k = 0; k < rays; k++) {
    const a = (2 * Math.PI * (k + 0.5)) / rays;
    const c = Math.cos(a);
    const s = Math.sin(a);
    for (let j = 0; j < samples; j++) {
      const d = first + j * STEP;
      lum[k * samples + j] = at(x + d * c, y + d * s);
    }
  }
  return { lum, rays, samples, first };
}

/** Mean outward rise (levels per px) and mean texture (mean |change| between neighbouring rays), per sample. */
function profiles(p: Polar): { rise: Float64Array; texture: Float64Array } {
  const { lum, rays, samples } = p;
  const rise = new Float64Array(samples);
  const texture = new Float64Array(samples);
  for (let k = 0; k < rays; k++) {
    const row = k * samples;
    const next = ((k + 1) % rays) * samples;
    for (let j = 0; j < samples; j++) {
      texture[j] += Math.abs(lum[row + j]! - lum[next + j]!) / rays;
      if (j >= DIFF && j < samples - DIFF) rise[j] += (lum[row + j + DIFF]! - lum[row + j - DIFF]!) / (2 * DIFF * STEP) / rays;
    }
  }
  return { rise, texture };
}

/** Radial derivative of a profile (per px), zero where the difference does not fit. */
function derivative(v: Float64Array): Float64Array {
  const out = new Float64Array(v.length);
  for (let j = DIFF; j < v.length - DIFF; j++) out[j] = (v[j + DIFF]! - v[j - DIFF]!) / (2 * DIFF * STEP);
  return out;
}

/**
 * Index of the extreme (sign +1: maximum, -1: minimum) of `v` over samples [a, b], refined by a parabola through its
 * neighbours; null when the range is empty.
 */
function extremum(v: Float64Array, a: number, b: number, sign: 1 | -1): { at: number; value: number } | null {
  const lo = Math.max(DIFF + 1, a);
  const hi = Math.min(v.length - DIFF - 2, b);
  if (hi < lo) return null;
  let best = lo;
  for (let j = lo + 1; j <= hi; j++) if (sign * v[j]! > sign * v[best]!) best = j;
  const ym = sign * v[best - 1]!;
  const y0 = sign * v[best]!;
  const yp = sign * v[best + 1]!;
  const den = ym - 2 * y0 + yp;
  const off = den < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (ym - yp)) / den)) : 0;
  return { at: best + off, value: v[best]! };
}

const index = (p: Polar, d: number): number => Math.round((d - p.first) / STEP);
const radiusAt = (p: Polar, j: number): number => p.first + j * STEP;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-neighbour distances that agree within this share count as one pitch. */
const PITCH_AGREEMENT = 0.15;

/**
 * The row's pitch: the nearest-neighbour distance with the most heat-weighted agreement among the stones. A plain
 * median fails both ways: a weak second peak beside a stone adds two tiny distances, and a missing stone leaves its
 * neighbours' distances at two pitches.
 */
export function rowPitch(stones: readonly RowStone[]): number {
  const nearest = stones.map((s) => Math.min(...stones.filter((o) => o !== s).map((o) => Math.hypot(o.x - s.x, o.y - s.y))));
  let best = nearest[0]!;
  let bestScore = -1;
  for (const p of nearest) {
    let score = 0;
    nearest.forEach((d, i) => {
      if (Math.abs(d - p) <= PITCH_AGREEMENT * p) score += stones[i]!.confidence;
    });
    if (score > bestScore) {
      bestScore = score;
      best = p;
    }
  }
  return median(nearest.filter((d) => Math.abs(d - best) <= PITCH_AGREEMENT * best));
}

/**
 * Centres and radii of one row's stones from the photo (luminance at the stones' scale). Stones whose outline cannot
 * be measured come back unchanged with `measured: false`; so does every stone of a row shorter than two.
 */
export interface RowMeasurement {
  stones: MeasuredStone[];
  /** The row's girdle radius (working px); null when the row could not be measured. */
  radius: number | null;
}

export function measureStoneRow(lum: Float32Array, width: number, height: number, stones: readonly RowStone[]): RowMeasurement {
  const unchanged = { stones: stones.map((s) => ({ x: s.x, y: s.y, r: s.r, measured: false })), radius: null };
  if (stones.length < 2) return unchanged;
  const pitch = rowPitch(stones);
  const lo = MIN_R_OF_PITCH * pitch;
  const hi = MAX_R_OF_PITCH * pitch + 2;
  if (lo < 2) return unchanged;
  const at = makeSampler(lum, width, height);
  const rays = rayCount(hi);

  // Row profiles.
  const polars = stones.map((s) => polar(at, s.x, s.y, lo, hi, rays));
  const samples = polars[0]!.samples;
  const rowRise = new Float64Array(samples);
  const rowTexture = new Float64Array(samples);
  for (const p of polars) {
    const { rise, texture } = profiles(p);
    for (let j = 0; j < samples; j++) {
      rowRise[j] += rise[j]! / stones.length;
      rowTexture[j] += texture[j]! / stones.length;
    }
  }
  const ref = polars[0]!;
  const rise = extremum(rowRise, 0, samples - 1, 1);
  if (!rise || !(rise.value > 0)) return unchanged;
  const riseR = radiusAt(ref, rise.at);
  const inward = Math.max(3, 0.12 * riseR);
  const outward = Math.max(1, 0.3 * riseR);
  const edge = extremum(derivative(rowTexture), index(ref, riseR - inward), index(ref, riseR + outward), -1);
  if (!edge || !(edge.value < 0)) return unchanged;
  const rowR = radiusAt(ref, edge.at);

  const measured = stones.map((s) => {
    const centre = fitCentre(at, s.x, s.y, riseR, Math.max(1.5, 0.08 * riseR), rays) ?? { x: s.x, y: s.y };
    // Own texture edge near the row's, from the refined centre.
    const band = Math.max(2, 0.1 * rowR);
    const p = polar(at, centre.x, centre.y, Math.max(1, rowR - band - 2), rowR + band + 2, rays);
    const own = extremum(derivative(profiles(p).texture), index(p, rowR - band), index(p, rowR + band), -1);
    const r = own && own.value < 0 ? radiusAt(p, own.at) : rowR;
    return { x: centre.x, y: centre.y, r, measured: true };
  });
  return { stones: measured, radius: rowR };
}

/**
 * Centre of the circle through the per-ray steepest rises within `band` of `r0`, by IRLS on the ray model; two
 * passes, re-casting the rays from the refined centre. Null when too few rays carry an edge or the fit moves further
 * than the band (it locked on something else).
 */
function fitCentre(at: (x: number, y: number) => number, x0: number, y0: number, r0: number, band: number, rays: number): { x: number; y: number } | null {
  let x = x0;
  let y = y0;
  for (let pass = 0; pass < 2; pass++) {
    const p = polar(at, x, y, Math.max(1, r0 - band - 1), r0 + band + 1, rays);
    const cos = new Float64Array(rays);
    const sin = new Float64Array(rays);
    const edge = new Float64Array(rays).fill(NaN);
    const jLo = Math.max(DIFF + 1, index(p, r0 - band));
    const jHi = Math.min(p.samples - DIFF - 2, index(p, r0 + band));
    for (let k = 0; k < rays; k++) {
      const a = (2 * Math.PI * (k + 0.5)) / rays;
      cos[k] = Math.cos(a);
      sin[k] = Math.sin(a);
      const row = k * p.samples;
      const d = (j: number) => p.lum[row + j + DIFF]! - p.lum[row + j - DIFF]!;
      let best = 0;
      let bj = -1;
      for (let j = jLo; j <= jHi; j++) {
        const v = d(j);
        if (v > best) {
          best = v;
          bj = j;
        }
      }
      if (bj < 0) continue;
      const ym = d(bj - 1);
      const yp = d(bj + 1);
      const den = ym - 2 * best + yp;
      const off = den < 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (ym - yp)) / den)) : 0;
      edge[k] = radiusAt(p, bj + off);
    }
    const fit = robustCircle(edge, cos, sin, r0);
    if (!fit) return null;
    x += fit.dx;
    y += fit.dy;
    if (Math.hypot(x - x0, y - y0) > band) return null;
  }
  return { x, y };
}

/**
 * Fits d_k = R + dx cos(theta_k) + dy sin(theta_k) to the edge distances (NaN: no edge on that ray), Tukey biweight
 * with the scale from the median absolute residual, floored at half a pixel so a clean circle is not over-trimmed.
 */
export function robustCircle(edge: Float64Array, cos: Float64Array, sin: Float64Array, r0: number): { r: number; dx: number; dy: number; support: number } | null {
  const K = edge.length;
  const w = new Float64Array(K);
  let valid = 0;
  for (let k = 0; k < K; k++) {
    if (Number.isFinite(edge[k]!)) {
      w[k] = 1;
      valid++;
    }
  }
  if (valid < 8) return null;
  let r = r0;
  let dx = 0;
  let dy = 0;
  for (let it = 0; it < 10; it++) {
    const A = [0, 0, 0, 0, 0, 0, 0, 0, 0];
    const b = [0, 0, 0];
    for (let k = 0; k < K; k++) {
      const wk = w[k]!;
      if (wk === 0) continue;
      const row = [1, cos[k]!, sin[k]!];
      for (let i = 0; i < 3; i++) {
        b[i]! += wk * row[i]! * edge[k]!;
        for (let j = 0; j < 3; j++) A[3 * i + j]! += wk * row[i]! * row[j]!;
      }
    }
    const sol = solve3(A, b);
    if (!sol) return null;
    [r, dx, dy] = sol;
    const res: number[] = [];
    for (let k = 0; k < K; k++) if (Number.isFinite(edge[k]!)) res.push(Math.abs(edge[k]! - (r + dx * cos[k]! + dy * sin[k]!)));
    const scale = 4.685 * Math.max(0.5, median(res) * 1.4826);
    for (let k = 0; k < K; k++) {
      if (!Number.isFinite(edge[k]!)) continue;
      const u = (edge[k]! - (r + dx * cos[k]! + dy * sin[k]!)) / scale;
      w[k] = Math.abs(u) < 1 ? (1 - u * u) ** 2 : 0;
    }
  }
  let inliers = 0;
  for (let k = 0; k < K; k++) if (w[k]! > 0) inliers++;
  return { r, dx, dy, support: inliers / K };
}

function solve3(A: number[], b: number[]): [number, number, number] | null {
  const [a, bb, c, d, e, f, g, h, i] = A as [number, number, number, number, number, number, number, number, number];
  const det = a * (e * i - f * h) - bb * (d * i - f * g) + c * (d * h - e * g);
  if (Math.abs(det) < 1e-9) return null;
  const [p, q, s] = b as [number, number, number];
  return [
    (p * (e * i - f * h) - bb * (q * i - f * s) + c * (q * h - e * s)) / det,
    (a * (q * i - f * s) - p * (d * i - f * g) + c * (d * s - q * g)) / det,
    (a * (e * s - q * h) - bb * (d * s - q * g) + p * (d * h - e * g)) / det,
  ];
}
