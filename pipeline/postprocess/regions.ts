/**
 * Connected components (8-connected) of a thresholded probability plane, with the moments the measurements need.
 * Everything runs on typed arrays in O(pixels); a 2400 x 1800 plane takes tens of milliseconds.
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
  /** Per pixel: 1 + index into `regions` for kept regions, else 0. */
  labels: Int32Array;
  /** Rows [rowFrom, rowTo) hold every labelled pixel; callers scan only those. */
  rowFrom: number;
  rowTo: number;
}

function find(parent: Int32Array, a: number): number {
  while (parent[a] !== a) {
    parent[a] = parent[parent[a]!]!;
    a = parent[a]!;
  }
  return a;
}

/**
 * Pixels with `prob >= threshold`, grouped into regions; regions under `minArea` pixels are dropped (and unlabelled).
 */
export function findRegions(prob: Float32Array, width: number, height: number, threshold: number, minArea: number): Regions {
  const labels = new Int32Array(width * height);
  let parent = new Int32Array(1024);
  let next = 1;
  const union = (a: number, b: number) => {
    const ra = find(parent, a);
    const rb = find(parent, b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };

  let rowFrom = height;
  let rowTo = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      if (!(prob[i]! >= threshold)) continue;
      if (y < rowFrom) rowFrom = y;
      rowTo = y + 1;
      // Already-visited neighbours: W, NW, N, NE.
      const w = x > 0 ? labels[i - 1]! : 0;
      const nw = x > 0 && y > 0 ? labels[i - width - 1]! : 0;
      const n = y > 0 ? labels[i - width]! : 0;
      const ne = x < width - 1 && y > 0 ? labels[i - width + 1]! : 0;
      let label = 0;
      if (w !== 0) label = w;
      if (nw !== 0) label === 0 ? (label = nw) : nw !== label && union(label, nw);
      if (n !== 0) label === 0 ? (label = n) : n !== label && union(label, n);
      if (ne !== 0) label === 0 ? (label = ne) : ne !== label && union(label, ne);
      if (label === 0) {
        if (next >= parent.length) {
          const grown = new Int32Array(parent.length * 2);
          grown.set(parent);
          parent = grown;
        }
        parent[next] = next;
        label = next++;
      }
      labels[i] = label;
    }
  }

  // Most planes of a good piece are empty: skip the other passes.
  if (next === 1) return { regions: [], labels, rowFrom: 0, rowTo: 0 };

  // Resolve provisional labels to compact component ids and accumulate moments.
  const compact = new Int32Array(next);
  let count = 0;
  for (let l = 1; l < next; l++) {
    const root = find(parent, l);
    if (root === l) compact[l] = ++count;
  }
  for (let l = 1; l < next; l++) compact[l] = compact[find(parent, l)]!;

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
  for (let y = rowFrom; y < rowTo; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      const l = labels[i]!;
      if (l === 0) continue;
      const c = compact[l]!;
      labels[i] = c;
      area[c]! += 1;
      sx[c]! += x;
      sy[c]! += y;
      sxx[c]! += x * x;
      syy[c]! += y * y;
      sxy[c]! += x * y;
      if (prob[i]! > maxP[c]!) maxP[c] = prob[i]!;
      if (x < bx0[c]!) bx0[c] = x;
      if (y < by0[c]!) by0[c] = y;
      if (x + 1 > bx1[c]!) bx1[c] = x + 1;
      if (y + 1 > by1[c]!) by1[c] = y + 1;
    }
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

  // Second pass: relabel to kept indices and measure each region's extent along its major axis.
  const lo = new Float64Array(regions.length + 1).fill(Infinity);
  const hi = new Float64Array(regions.length + 1).fill(-Infinity);
  for (let y = rowFrom; y < rowTo; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      const c = labels[i]!;
      if (c === 0) continue;
      const k = keep[c]!;
      labels[i] = k;
      if (k === 0) continue;
      const r = regions[k - 1]!;
      const p = x * r.ux + y * r.uy;
      if (p < lo[k]!) lo[k] = p;
      if (p > hi[k]!) hi[k] = p;
    }
  }
  for (let k = 1; k <= regions.length; k++) {
    const r = regions[k - 1]!;
    // A pixel's own footprint along the axis is |ux| + |uy| (1 when axis-aligned, sqrt 2 on the diagonal).
    r.majorExtent = hi[k]! - lo[k]! + Math.abs(r.ux) + Math.abs(r.uy);
  }
  return { regions, labels, rowFrom, rowTo };
}

/** Where findings may be: a working-scale mask of the piece, and the share of a region's pixels that must lie on it. */
export interface PieceGate {
  onPiece: Uint8Array;
  minShare: number;
}

/**
 * Keeps the regions whose area lies mostly on `onPiece` (more than `minShare` of their pixels), relabelling in place.
 * Whole regions are kept or dropped: one that straddles the silhouette keeps its full size and measurements.
 */
export function regionsOn(found: Regions, onPiece: Uint8Array, width: number, minShare: number): Regions {
  const { regions, labels, rowFrom, rowTo } = found;
  if (regions.length === 0) return found;
  const on = new Float64Array(regions.length + 1);
  for (let i = rowFrom * width; i < rowTo * width; i++) {
    const l = labels[i]!;
    if (l !== 0 && onPiece[i]) on[l]!++;
  }
  const keep = new Int32Array(regions.length + 1);
  const kept: Region[] = [];
  for (let k = 1; k <= regions.length; k++) {
    const r = regions[k - 1]!;
    if (on[k]! > minShare * r.area) {
      kept.push(r);
      keep[k] = kept.length;
    }
  }
  if (kept.length === regions.length) return found;
  for (let i = rowFrom * width; i < rowTo * width; i++) if (labels[i] !== 0) labels[i] = keep[labels[i]!]!;
  return { regions: kept, labels, rowFrom, rowTo };
}

/**
 * The largest probability of a plane over the pixels where `onPiece` is set (all of them when it is null). As an
 * image-level score it is what `models/training/calibrate.py` calibrates `imageThreshold` on (the max of the map), so
 * the gate and the score agree; restricted to the piece, the backdrop can no longer raise it. It equals the best
 * region's confidence whenever a region exists on the piece, and still ranks images without one.
 */
export function planeMax(plane: Float32Array, onPiece: Uint8Array | null = null): number {
  let m = 0;
  if (onPiece) {
    for (let i = 0; i < plane.length; i++) if (onPiece[i] && plane[i]! > m) m = plane[i]!;
  } else {
    for (let i = 0; i < plane.length; i++) if (plane[i]! > m) m = plane[i]!;
  }
  return Math.min(1, m);
}
