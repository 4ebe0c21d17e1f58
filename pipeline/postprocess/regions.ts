/**
 * Connected components (8-connected) of a thresholded probability plane, with the moments the measurements need.
 * Labelling works on row runs, not pixels: a run's moments have closed forms and a run joins the runs above it in one
 * comparison, so a plane that is mostly above its threshold (the haze channel over a whole backdrop) costs little more
 * than an empty one. Every moment is a sum of integers, exact in float64, so the order of summation cannot change it.
 */

export interface Region {
  /** Working-pixel bounding box, end exclusive. */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  area: number;
  /** Centre of mass, working pixels (pixel-centre convention: pixel i is at i). */
  cx: number;
  cy: number;
  maxProb: number;
  /** Principal axes of the region's second moments, working pixels (pixels counted as unit squares). */
  majorVar: number;
  minorVar: number;
  /** Unit vector of the major axis. */
  ux: number;
  uy: number;
  /** Extent of the region along its major axis, end to end, working pixels (a straight scratch's length). */
  majorExtent: number;
}

export interface Regions {
  regions: Region[];
  /**
   * The regions' pixels as row runs in raster order, three numbers per run: first pixel index (y * width + x), end
   * index (exclusive), and 1 + the index into `regions` of the run's region. Runs rather than a label per pixel: a
   * plane's regions are few and small next to the plane, so painting and counting through runs skips the rest.
   */
  runs: Int32Array;
}

function find(parent: Int32Array, a: number): number {
  while (parent[a] !== a) {
    parent[a] = parent[parent[a]!]!;
    a = parent[a]!;
  }
  return a;
}

function grown<T extends Int32Array | Float32Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}

/** Sum of x² for x in [0, n]. */
const squares = (n: number): number => (n * (n + 1) * (2 * n + 1)) / 6;

/**
 * Pixels with `prob >= threshold`, grouped into regions; regions under `minArea` pixels are dropped (and unlabelled).
 * Regions come in the raster order of their first pixel.
 */
export function findRegions(prob: Float32Array, width: number, height: number, threshold: number, minArea: number): Regions {
  // Runs in raster order: row, first column, end column (exclusive), largest probability; `parent` joins them.
  let runY = new Int32Array(1024);
  let runX0 = new Int32Array(1024);
  let runX1 = new Int32Array(1024);
  let runMax = new Float32Array(1024);
  let parent = new Int32Array(1024);
  let n = 0;
  let prevFrom = 0;
  let prevTo = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const rowFirst = n;
    // Runs of the row above that may touch the next run of this one (both sweep left to right).
    let above = prevFrom;
    let x = 0;
    while (x < width) {
      while (x < width && !(prob[row + x]! >= threshold)) x++;
      if (x === width) break;
      const x0 = x;
      let max = prob[row + x]!;
      for (x++; x < width; x++) {
        const v = prob[row + x]!;
        if (!(v >= threshold)) break;
        if (v > max) max = v;
      }
      if (n === parent.length) {
        runY = grown(runY);
        runX0 = grown(runX0);
        runX1 = grown(runX1);
        runMax = grown(runMax);
        parent = grown(parent);
      }
      runY[n] = y;
      runX0[n] = x0;
      runX1[n] = x;
      runMax[n] = max;
      parent[n] = n;
      // 8-connected: a run above touches [x0, x) when its columns reach x0 - 1 .. x. Roots stay the smallest run
      // index, i.e. each region's first run in raster order.
      while (above < prevTo && runX1[above]! < x0) above++;
      for (let a = above; a < prevTo && runX0[a]! <= x; a++) {
        const ra = find(parent, a);
        const rb = find(parent, n);
        if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
      }
      n++;
    }
    prevFrom = rowFirst;
    prevTo = n;
  }

  // Most planes of a good piece are empty: skip the other passes.
  if (n === 0) return { regions: [], runs: new Int32Array(0) };

  // Resolve runs to compact component ids (in order of first run) and accumulate moments in closed form per run.
  const comp = new Int32Array(n);
  let count = 0;
  for (let r = 0; r < n; r++) {
    const root = find(parent, r);
    comp[r] = root === r ? ++count : comp[root]!;
  }
  const area = new Float64Array(count + 1);
  const sx = new Float64Array(count + 1);
  const sy = new Float64Array(count + 1);
  const sxx = new Float64Array(count + 1);
  const syy = new Float64Array(count + 1);
  const sxy = new Float64Array(count + 1);
  const maxP = new Float32Array(count + 1);
  const bx0 = new Int32Array(count + 1).fill(width);
  const by0 = new Int32Array(count + 1).fill(height);
  const bx1 = new Int32Array(count + 1);
  const by1 = new Int32Array(count + 1);
  for (let r = 0; r < n; r++) {
    const c = comp[r]!;
    const y = runY[r]!;
    const x0 = runX0[r]!;
    const x1 = runX1[r]!;
    const len = x1 - x0;
    const sumX = (len * (x0 + x1 - 1)) / 2;
    area[c]! += len;
    sx[c]! += sumX;
    sy[c]! += y * len;
    sxx[c]! += squares(x1 - 1) - squares(x0 - 1);
    syy[c]! += y * y * len;
    sxy[c]! += y * sumX;
    if (runMax[r]! > maxP[c]!) maxP[c] = runMax[r]!;
    if (x0 < bx0[c]!) bx0[c] = x0;
    if (y < by0[c]!) by0[c] = y;
    if (x1 > bx1[c]!) bx1[c] = x1;
    if (y + 1 > by1[c]!) by1[c] = y + 1;
  }

  const keep = new Int32Array(count + 1);
  const regions: Region[] = [];
  for (let c = 1; c <= count; c++) {
    const a = area[c]!;
    if (a < minArea) continue;
    const cx = sx[c]! / a;
    const cy = sy[c]! / a;
    // + 1/12: each pixel is a unit square, not a point; without it a 1-px-wide line would have zero width.
    const vxx = sxx[c]! / a - cx * cx + 1 / 12;
    const vyy = syy[c]! / a - cy * cy + 1 / 12;
    const vxy = sxy[c]! / a - cx * cy;
    const half = (vxx + vyy) / 2;
    const disc = Math.sqrt(((vxx - vyy) / 2) ** 2 + vxy * vxy);
    const majorVar = half + disc;
    const minorVar = Math.max(half - disc, 1 / 12);
    const angle = 0.5 * Math.atan2(2 * vxy, vxx - vyy);
    regions.push({
      x0: bx0[c]!,
      y0: by0[c]!,
      x1: bx1[c]!,
      y1: by1[c]!,
      area: a,
      cx,
      cy,
      maxProb: maxP[c]!,
      majorVar,
      minorVar,
      ux: Math.cos(angle),
      uy: Math.sin(angle),
      majorExtent: 0,
    });
    keep[c] = regions.length;
  }

  // List the kept regions' runs and measure each region's extent along its major axis. The projection x·ux + y·uy
  // is monotonic along a run (rounding is monotonic too), so a run's two end pixels bound it.
  const lo = new Float64Array(regions.length + 1).fill(Infinity);
  const hi = new Float64Array(regions.length + 1).fill(-Infinity);
  const runs: number[] = [];
  for (let r = 0; r < n; r++) {
    const k = keep[comp[r]!]!;
    if (k === 0) continue;
    const y = runY[r]!;
    const start = y * width + runX0[r]!;
    const end = y * width + runX1[r]!;
    runs.push(start, end, k);
    const reg = regions[k - 1]!;
    const p0 = runX0[r]! * reg.ux + y * reg.uy;
    const p1 = (runX1[r]! - 1) * reg.ux + y * reg.uy;
    const pLo = p0 < p1 ? p0 : p1;
    const pHi = p0 < p1 ? p1 : p0;
    if (pLo < lo[k]!) lo[k] = pLo;
    if (pHi > hi[k]!) hi[k] = pHi;
  }
  for (let k = 1; k <= regions.length; k++) {
    const r = regions[k - 1]!;
    // A pixel's own footprint along the axis is |ux| + |uy| (1 when axis-aligned, sqrt 2 on the diagonal).
    r.majorExtent = hi[k]! - lo[k]! + Math.abs(r.ux) + Math.abs(r.uy);
  }
  return { regions, runs: Int32Array.from(runs) };
}

/** Where findings may be: a working-scale mask of the piece, and the share of a region's pixels that must lie on it. */
export interface PieceGate {
  onPiece: Uint8Array;
  minShare: number;
}

/**
 * Keeps the regions whose area lies mostly on `onPiece` (more than `minShare` of their pixels), with their runs.
 * Whole regions are kept or dropped: one that straddles the silhouette keeps its full size and measurements.
 */
export function regionsOn(found: Regions, onPiece: Uint8Array, minShare: number): Regions {
  const { regions, runs } = found;
  if (regions.length === 0) return found;
  const on = new Float64Array(regions.length + 1);
  for (let r = 0; r < runs.length; r += 3) {
    let count = 0;
    for (let i = runs[r]!, end = runs[r + 1]!; i < end; i++) if (onPiece[i]) count++;
    on[runs[r + 2]!]! += count;
  }
  return filterRegions(found, (r, k) => on[k + 1]! > minShare * r.area);
}

/** The regions `keep` accepts (called with each region and its index), their runs re-labelled. */
export function filterRegions(found: Regions, keep: (region: Region, index: number) => boolean): Regions {
  const { regions, runs } = found;
  const label = new Int32Array(regions.length + 1);
  const kept: Region[] = [];
  for (const [k, r] of regions.entries()) {
    if (keep(r, k)) {
      kept.push(r);
      label[k + 1] = kept.length;
    }
  }
  if (kept.length === regions.length) return found;
  const keptRuns: number[] = [];
  for (let r = 0; r < runs.length; r += 3) {
    const k = label[runs[r + 2]!]!;
    if (k !== 0) keptRuns.push(runs[r]!, runs[r + 1]!, k);
  }
  return { regions: kept, runs: Int32Array.from(keptRuns) };
}

/** Sets `mask` (the plane's size) to 1 on every pixel of the regions. */
export function paintRegions(found: Regions, mask: Uint8Array): void {
  const { runs } = found;
  for (let r = 0; r < runs.length; r += 3) mask.fill(1, runs[r]!, runs[r + 1]!);
}

/**
 * The largest probability of a plane over the pixels where `onPiece` is 1 (a 0/1 mask; all pixels when it is null).
 * As an image-level score it is what `models/training/calibrate.py` calibrates `imageThreshold` on (the max of the
 * map), so the gate and the score agree; restricted to the piece, the backdrop can no longer raise it. It equals the
 * best region's confidence whenever a region exists on the piece, and still ranks images without one.
 */
export function planeMax(plane: Float32Array, onPiece: Uint8Array | null = null): number {
  return Math.min(1, planePeak(plane, onPiece).value);
}

/** `planeMax` and where it is: the first index (row-major) holding the largest value; -1 when nothing is above 0. */
export function planePeak(plane: Float32Array, onPiece: Uint8Array | null = null): { value: number; index: number } {
  let m = 0;
  let at = -1;
  if (onPiece) {
    // The piece is a few long runs of ones: found natively (indexOf), so the backdrop's pixels are never visited.
    for (let from = onPiece.indexOf(1); from !== -1; from = onPiece.indexOf(1, from)) {
      let to = onPiece.indexOf(0, from);
      if (to === -1) to = plane.length;
      for (let i = from; i < to; i++) {
        if (plane[i]! > m) {
          m = plane[i]!;
          at = i;
        }
      }
      from = to;
    }
  } else {
    for (let i = 0; i < plane.length; i++) {
      if (plane[i]! > m) {
        m = plane[i]!;
        at = i;
      }
    }
  }
  return { value: m, index: at };
}
