import sharp from 'sharp';

/**
 * Station calibration from one photo of a printed checkerboard: mm per pixel = square size ÷ square pitch in pixels.
 *
 * The board's dark squares are found as connected components of an Otsu-thresholded, slightly eroded image (erosion
 * separates squares that touch at their corners; it shrinks every square alike, so centroids do not move). Their
 * centroids sit on a lattice spanned by the two diagonals of a square, d1 = a + b and d2 = a − b, where a and b are
 * one square along each board axis. After giving every centroid integer lattice coordinates, one least-squares fit
 * of p = c + m·d1 + n·d2 over all of them averages the pitch over the whole board, which is what makes the result
 * sub-pixel accurate even though no single corner is located to better than a pixel.
 *
 * Warnings (the result is still returned): `tilted` when the two axes disagree in length or are not square to each
 * other (the board is not parallel to the sensor, so one number cannot describe the scale), `perspective` when the
 * pitch changes across the board, `blurred` when square edges are smeared over more than a tenth of a square.
 */

export interface CheckerboardInput {
  /** Size of one printed square, in mm. */
  squareMm: number;
  /** Inner corners per row and per column (OpenCV's convention): a board of 9×6 inner corners has 10×7 squares. */
  innerCorners: { cols: number; rows: number };
  /** Refuse images declaring more pixels than this (decompression bombs). */
  maxPixels?: number;
}

export interface CalibrationWarning {
  code: 'tilted' | 'perspective' | 'blurred';
  message: string;
}

export interface CheckerboardResult {
  mmPerPx: number;
  /** mm per pixel along each board axis (first: the axis closest to the image's x axis). */
  mmPerPxAxes: [number, number];
  /** One square along each board axis, in photo pixels. */
  pitchPx: [number, number];
  /** Rotation of the board in the image, degrees. */
  rotationDeg: number;
  /** Relative difference between the two axes' pitch. */
  anisotropy: number;
  /** Deviation of the angle between the axes from 90°, degrees. */
  skewDeg: number;
  /** Largest relative change of the pitch from one half of the board to the other. */
  perspective: number;
  /** Median 10–90 % width of the square edges, in photo pixels. */
  edgeWidthPx: number;
  /** RMS distance of the square centres from the fitted lattice, in photo pixels. */
  residualPx: number;
  squaresFound: number;
  board: { squaresX: number; squaresY: number };
  image: { width: number; height: number; analysisScale: number };
  warnings: CalibrationWarning[];
}

export class CheckerboardError extends Error {
  constructor(
    readonly code: 'not_an_image' | 'board_not_found' | 'board_mismatch',
    message: string,
  ) {
    super(message);
    this.name = 'CheckerboardError';
  }
}

/** Longest side the analysis runs at: enough pixels per square for the lattice fit, fast on a 12 MP photo. */
const ANALYSIS_MAX_SIDE = 1600;
/** Thresholds of the warnings, relative (pitch) or in degrees. */
const TILT_ANISOTROPY = 0.02;
const TILT_SKEW_DEG = 2;
const PERSPECTIVE_CHANGE = 0.02;
const BLUR_EDGE_FRACTION = 0.1;

type Vec = [number, number];

export async function calibrateCheckerboard(photo: Uint8Array, input: CheckerboardInput): Promise<CheckerboardResult> {
  const { cols, rows } = input.innerCorners;
  if (!(input.squareMm > 0) || cols < 2 || rows < 2) throw new CheckerboardError('board_mismatch', 'squareMm must be positive and the board at least 2×2 inner corners');

  let W: number;
  let H: number;
  let img: Uint8Array;
  let sx: number;
  let sy: number;
  try {
    const base = sharp(photo, { limitInputPixels: input.maxPixels ?? 60_000_000 }).rotate();
    const meta = await base.clone().metadata();
    const upright = (meta.orientation ?? 1) >= 5;
    W = (upright ? meta.height : meta.width) ?? 0;
    H = (upright ? meta.width : meta.height) ?? 0;
    if (!W || !H) throw new Error('no dimensions');
    const s = Math.min(1, ANALYSIS_MAX_SIDE / Math.max(W, H));
    const w = Math.max(1, Math.round(W * s));
    const h = Math.max(1, Math.round(H * s));
    const out = await base.resize(w, h, { fit: 'fill', kernel: 'lanczos3' }).greyscale().raw().toBuffer({ resolveWithObject: true });
    img = new Uint8Array(out.data.buffer, out.data.byteOffset, out.info.width * out.info.height);
    sx = out.info.width / W;
    sy = out.info.height / H;
  } catch (err) {
    throw new CheckerboardError('not_an_image', `the calibration photo could not be decoded: ${err instanceof Error ? err.message : String(err)}`);
  }
  const w = Math.round(W * sx);
  const h = Math.round(H * sy);

  const squares = (cols + 1) * (rows + 1);
  const expectDark = [Math.floor(squares / 2), Math.ceil(squares / 2)];
  const threshold = otsu(img);
  const dark = new Uint8Array(w * h);
  for (let i = 0; i < dark.length; i++) dark[i] = img[i]! < threshold ? 1 : 0;

  // Erode a little more each round until the dark squares come apart as one component each.
  let centres: Vec[] | null = null;
  let lastCount = 0;
  let mask: Uint8Array = dark;
  for (let round = 0; round <= 6 && !centres; round++) {
    if (round > 0) mask = erode(mask, w, h);
    const found = squareComponents(mask, w, h, expectDark[1]!);
    lastCount = found.length;
    if (found.length >= expectDark[0]! && found.length <= expectDark[1]!) centres = found;
  }
  if (!centres) {
    throw new CheckerboardError(
      'board_not_found',
      `found ${lastCount} checkerboard squares of similar size, expected ${expectDark[0]}–${expectDark[1]} dark squares of a ${cols + 1}×${rows + 1} board ` +
        `(${cols}×${rows} inner corners): is the whole board in the picture, evenly lit, with a white margin?`,
    );
  }

  const lattice = fitLattice(centres);
  // a = (d1 + d2) / 2 and b = (d1 − d2) / 2: one square along each board axis, in analysis pixels.
  const a: Vec = [(lattice.d1[0] + lattice.d2[0]) / 2, (lattice.d1[1] + lattice.d2[1]) / 2];
  const b: Vec = [(lattice.d1[0] - lattice.d2[0]) / 2, (lattice.d1[1] - lattice.d2[1]) / 2];
  // Square coordinates of each dark square along a and b.
  const ij = lattice.coords.map(([m, n]) => [m + n, m - n] as Vec);
  const span = (k: 0 | 1) => Math.max(...ij.map((c) => c[k])) - Math.min(...ij.map((c) => c[k])) + 1;
  const spans = [span(0), span(1)].sort((x, y) => x - y);
  const wanted = [cols + 1, rows + 1].sort((x, y) => x - y);
  if (spans[0] !== wanted[0] || spans[1] !== wanted[1]) {
    throw new CheckerboardError(
      'board_mismatch',
      `the board in the photo has ${spans[0]}×${spans[1]} squares, but ${cols}×${rows} inner corners means ${wanted[0]}×${wanted[1]}`,
    );
  }

  const toPhoto = (v: Vec): Vec => [v[0] / sx, v[1] / sy];
  let axes: [Vec, Vec] = [toPhoto(a), toPhoto(b)];
  // First axis: the one closer to the image's x axis, so results read the same whatever the lattice search chose.
  if (Math.abs(axes[0][0]) / norm(axes[0]) < Math.abs(axes[1][0]) / norm(axes[1])) axes = [axes[1], axes[0]];
  const pitch: [number, number] = [norm(axes[0]), norm(axes[1])];
  const meanPitch = (pitch[0] + pitch[1]) / 2;
  const anisotropy = Math.abs(pitch[0] - pitch[1]) / meanPitch;
  const cosAB = Math.abs(axes[0][0] * axes[1][0] + axes[0][1] * axes[1][1]) / (pitch[0] * pitch[1]);
  const skewDeg = 90 - (Math.acos(Math.min(1, cosAB)) * 180) / Math.PI;
  let rotationDeg = (Math.atan2(axes[0][1], axes[0][0]) * 180) / Math.PI;
  if (rotationDeg > 90) rotationDeg -= 180;
  if (rotationDeg <= -90) rotationDeg += 180;

  // Perspective: the pitch fitted on each half of the board (split along each axis) should agree.
  let perspective = 0;
  for (const k of [0, 1] as const) {
    const mid = (Math.max(...ij.map((c) => c[k])) + Math.min(...ij.map((c) => c[k]))) / 2;
    const lo = lattice.coords.filter((_, i) => ij[i]![k] < mid);
    const hi = lattice.coords.filter((_, i) => ij[i]![k] > mid);
    const loC = centres.filter((_, i) => ij[i]![k] < mid);
    const hiC = centres.filter((_, i) => ij[i]![k] > mid);
    if (lo.length < 4 || hi.length < 4) continue;
    const fl = fitAffine(loC, lo);
    const fh = fitAffine(hiC, hi);
    if (!fl || !fh) continue;
    const pl = norm(toPhoto(halfSum(fl.d1, fl.d2, k)));
    const ph = norm(toPhoto(halfSum(fh.d1, fh.d2, k)));
    perspective = Math.max(perspective, Math.abs(pl - ph) / ((pl + ph) / 2));
  }

  const edgeAnalysis = edgeWidth(img, w, h, centres, a, b);
  const scale = (sx + sy) / 2;
  const edgeWidthPx = edgeAnalysis / scale;
  const residualPx = lattice.rms / scale;

  const warnings: CalibrationWarning[] = [];
  if (anisotropy > TILT_ANISOTROPY || skewDeg > TILT_SKEW_DEG) {
    warnings.push({
      code: 'tilted',
      message:
        `the board is tilted or not flat: its squares measure ${pitch[0].toFixed(2)} px and ${pitch[1].toFixed(2)} px along its two axes ` +
        `(${(anisotropy * 100).toFixed(1)} % apart) and the axes are ${skewDeg.toFixed(1)}° off square; lay it flat, parallel to the sensor, and calibrate again`,
    });
  }
  if (perspective > PERSPECTIVE_CHANGE) {
    warnings.push({
      code: 'perspective',
      message: `the square size changes by ${(perspective * 100).toFixed(1)} % from one side of the board to the other (perspective): the camera is not square to the board`,
    });
  }
  if (edgeWidthPx / meanPitch > BLUR_EDGE_FRACTION) {
    warnings.push({
      code: 'blurred',
      message: `the photo is blurred: square edges are ${edgeWidthPx.toFixed(1)} px wide (${((edgeWidthPx / meanPitch) * 100).toFixed(0)} % of a square); focus on the board`,
    });
  }

  return {
    mmPerPx: input.squareMm / meanPitch,
    mmPerPxAxes: [input.squareMm / pitch[0], input.squareMm / pitch[1]],
    pitchPx: pitch,
    rotationDeg,
    anisotropy,
    skewDeg,
    perspective,
    edgeWidthPx,
    residualPx,
    squaresFound: centres.length,
    board: { squaresX: spans[1]!, squaresY: spans[0]! },
    image: { width: W, height: H, analysisScale: scale },
    warnings,
  };
}

function halfSum(d1: Vec, d2: Vec, k: 0 | 1): Vec {
  return k === 0 ? [(d1[0] + d2[0]) / 2, (d1[1] + d2[1]) / 2] : [(d1[0] - d2[0]) / 2, (d1[1] - d2[1]) / 2];
}

function norm(v: Vec): number {
  return Math.hypot(v[0], v[1]);
}

function otsu(img: Uint8Array): number {
  const hist = new Float64Array(256);
  for (let i = 0; i < img.length; i++) hist[img[i]!]!++;
  const total = img.length;
  let sumAll = 0;
  for (let t = 0; t < 256; t++) sumAll += t * hist[t]!;
  let wB = 0;
  let sumB = 0;
  let best = 0;
  let bestT = 128;
  for (let t = 0; t < 256; t++) {
    wB += hist[t]!;
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += t * hist[t]!;
    const mB = sumB / wB;
    const mF = (sumAll - sumB) / wF;
    const between = wB * wF * (mB - mF) ** 2;
    if (between > best) {
      best = between;
      bestT = t + 1;
    }
  }
  return bestT;
}

/** 3×3 erosion (a pixel stays dark only if its 8 neighbours are dark). */
function erode(src: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      if (
        src[i] &&
        src[i - 1] &&
        src[i + 1] &&
        src[i - w] &&
        src[i + w] &&
        src[i - w - 1] &&
        src[i - w + 1] &&
        src[i + w - 1] &&
        src[i + w + 1]
      ) {
        out[i] = 1;
      }
    }
  }
  return out;
}

/**
 * Centroids of the components that look like the board's squares: 4-connected, not touching the image border, and
 * of the most common size (the squares are all printed alike; dirt, text and the table are not).
 */
function squareComponents(mask: Uint8Array, w: number, h: number, expected: number): Vec[] {
  const labels = new Int32Array(w * h).fill(-1);
  const stack = new Int32Array(w * h);
  const comps: Array<{ area: number; sx: number; sy: number; x0: number; y0: number; x1: number; y1: number; border: boolean }> = [];
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start] !== -1) continue;
    const id = comps.length;
    const c = { area: 0, sx: 0, sy: 0, x0: w, y0: h, x1: 0, y1: 0, border: false };
    let top = 0;
    stack[top++] = start;
    labels[start] = id;
    while (top > 0) {
      const i = stack[--top]!;
      const x = i % w;
      const y = (i - x) / w;
      c.area++;
      c.sx += x;
      c.sy += y;
      if (x < c.x0) c.x0 = x;
      if (x > c.x1) c.x1 = x;
      if (y < c.y0) c.y0 = y;
      if (y > c.y1) c.y1 = y;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) c.border = true;
      if (x > 0 && mask[i - 1] && labels[i - 1] === -1) (labels[i - 1] = id), (stack[top++] = i - 1);
      if (x < w - 1 && mask[i + 1] && labels[i + 1] === -1) (labels[i + 1] = id), (stack[top++] = i + 1);
      if (y > 0 && mask[i - w] && labels[i - w] === -1) (labels[i - w] = id), (stack[top++] = i - w);
      if (y < h - 1 && mask[i + w] && labels[i + w] === -1) (labels[i + w] = id), (stack[top++] = i + w);
    }
    comps.push(c);
  }
  const candidates = comps.filter((c) => {
    if (c.border || c.area < 16) return false;
    const bw = c.x1 - c.x0 + 1;
    const bh = c.y1 - c.y0 + 1;
    // A square at any rotation fills at least half its bounding box and is not a long sliver.
    return c.area / (bw * bh) > 0.4 && Math.max(bw, bh) / Math.min(bw, bh) < 3;
  });
  if (candidates.length === 0) return [];
  // The size shared by the most candidates (within −40 %…+60 %) is the squares' size.
  let bestArea = 0;
  let bestCount = -1;
  for (const c of candidates) {
    const n = candidates.filter((o) => o.area >= c.area * 0.6 && o.area <= c.area * 1.6).length;
    if (n > bestCount || (n === bestCount && c.area > bestArea)) {
      bestCount = n;
      bestArea = c.area;
    }
  }
  let kept = candidates.filter((o) => o.area >= bestArea * 0.6 && o.area <= bestArea * 1.6);
  if (kept.length > expected) kept = kept.sort((p, q) => q.area - p.area).slice(0, expected);
  return kept.map((c) => [c.sx / c.area, c.sy / c.area] as Vec);
}

interface Lattice {
  d1: Vec;
  d2: Vec;
  origin: Vec;
  coords: Vec[];
  rms: number;
}

/** Least-squares p = c + m·d1 + n·d2 over points with known integer coordinates (m, n). */
function fitAffine(points: Vec[], coords: Vec[]): { c: Vec; d1: Vec; d2: Vec; rms: number } | null {
  // Normal equations of [1 m n] · [c d1 d2]ᵀ = p, solved for x and y at once.
  const A = [
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ];
  const bx = [0, 0, 0];
  const by = [0, 0, 0];
  for (let k = 0; k < points.length; k++) {
    const row = [1, coords[k]![0], coords[k]![1]];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) A[i]![j]! += row[i]! * row[j]!;
      bx[i]! += row[i]! * points[k]![0];
      by[i]! += row[i]! * points[k]![1];
    }
  }
  const sx = solve3(A, bx);
  const sy = solve3(A, by);
  if (!sx || !sy) return null;
  let ss = 0;
  for (let k = 0; k < points.length; k++) {
    const [m, n] = coords[k]!;
    const px = sx[0] + m * sx[1] + n * sx[2];
    const py = sy[0] + m * sy[1] + n * sy[2];
    ss += (px - points[k]![0]) ** 2 + (py - points[k]![1]) ** 2;
  }
  return { c: [sx[0], sy[0]], d1: [sx[1], sy[1]], d2: [sx[2], sy[2]], rms: Math.sqrt(ss / points.length) };
}

function solve3(A: number[][], b: number[]): [number, number, number] | null {
  const det = (m: number[][]) =>
    m[0]![0]! * (m[1]![1]! * m[2]![2]! - m[1]![2]! * m[2]![1]!) -
    m[0]![1]! * (m[1]![0]! * m[2]![2]! - m[1]![2]! * m[2]![0]!) +
    m[0]![2]! * (m[1]![0]! * m[2]![1]! - m[1]![1]! * m[2]![0]!);
  const d = det(A);
  if (Math.abs(d) < 1e-9) return null;
  const col = (k: number) => A.map((row, i) => row.map((v, j) => (j === k ? b[i]! : v)));
  return [det(col(0)) / d, det(col(1)) / d, det(col(2)) / d];
}

/**
 * Integer lattice coordinates for the dark-square centres, then the affine fit. The nearest neighbours of a dark
 * square are its four diagonal neighbours, so their directions give d1 and d2 (found as the dominant direction
 * modulo 90°, which both diagonals share).
 */
function fitLattice(points: Vec[]): Lattice {
  const n = points.length;
  const vectors: Vec[] = [];
  const nearest: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = points
      .map((q, j) => ({ j, v: [q[0] - points[i]![0], q[1] - points[i]![1]] as Vec }))
      .filter((e) => e.j !== i)
      .sort((p, q) => norm(p.v) - norm(q.v))
      .slice(0, 4);
    if (d[0]) nearest.push(norm(d[0].v));
    for (const e of d) vectors.push(e.v);
  }
  const L0 = median(nearest);
  const near = vectors.filter((v) => norm(v) > 0.7 * L0 && norm(v) < 1.3 * L0);
  let s4 = 0;
  let c4 = 0;
  for (const v of near) {
    const t = Math.atan2(v[1], v[0]);
    s4 += Math.sin(4 * t);
    c4 += Math.cos(4 * t);
  }
  const phi = Math.atan2(s4, c4) / 4;
  const dirs: Vec[] = [
    [Math.cos(phi), Math.sin(phi)],
    [-Math.sin(phi), Math.cos(phi)],
  ];
  // Each basis vector: the mean of the neighbour vectors within 25° of its direction (signs folded onto it).
  const basis = dirs.map((u) => {
    let x = 0;
    let y = 0;
    let k = 0;
    for (const v of near) {
      const dot = (v[0] * u[0] + v[1] * u[1]) / norm(v);
      if (Math.abs(dot) < Math.cos((25 * Math.PI) / 180)) continue;
      const s = dot > 0 ? 1 : -1;
      x += s * v[0];
      y += s * v[1];
      k++;
    }
    if (k === 0) throw new CheckerboardError('board_not_found', 'the squares found do not form a checkerboard lattice');
    return [x / k, y / k] as Vec;
  }) as [Vec, Vec];

  const mean: Vec = [points.reduce((s, p) => s + p[0], 0) / n, points.reduce((s, p) => s + p[1], 0) / n];
  let originIdx = 0;
  for (let i = 1; i < n; i++) {
    if (norm([points[i]![0] - mean[0], points[i]![1] - mean[1]]) < norm([points[originIdx]![0] - mean[0], points[originIdx]![1] - mean[1]])) originIdx = i;
  }
  let d1 = basis[0];
  let d2 = basis[1];
  let origin = points[originIdx]!;
  let coords: Vec[] = [];
  let fit: ReturnType<typeof fitAffine> = null;
  // Round to lattice coordinates with the current basis, refit, and once more with the refined basis.
  for (let iter = 0; iter < 3; iter++) {
    const det = d1[0] * d2[1] - d1[1] * d2[0];
    if (Math.abs(det) < 1e-9) throw new CheckerboardError('board_not_found', 'the squares found do not form a checkerboard lattice');
    coords = points.map((p) => {
      const x = p[0] - origin[0];
      const y = p[1] - origin[1];
      return [Math.round((x * d2[1] - y * d2[0]) / det), Math.round((d1[0] * y - d1[1] * x) / det)] as Vec;
    });
    const keys = new Set(coords.map((c) => `${c[0]},${c[1]}`));
    if (keys.size !== coords.length) throw new CheckerboardError('board_not_found', 'two squares fell on one lattice position: the board is too distorted to fit');
    fit = fitAffine(points, coords);
    if (!fit) throw new CheckerboardError('board_not_found', 'the squares found do not form a checkerboard lattice');
    d1 = fit.d1;
    d2 = fit.d2;
    origin = fit.c;
  }
  return { d1, d2, origin, coords, rms: fit!.rms };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
}

/** Bilinear sample of the analysis image. */
function sample(img: Uint8Array, w: number, h: number, x: number, y: number): number | null {
  if (x < 0 || y < 0 || x >= w - 1 || y >= h - 1) return null;
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const i = y0 * w + x0;
  return (img[i]! * (1 - fx) + img[i + 1]! * fx) * (1 - fy) + (img[i + w]! * (1 - fx) + img[i + w + 1]! * fx) * fy;
}

/**
 * Median 10–90 % rise distance of the intensity from a dark square's centre to the centre of the light square next
 * to it (along ±a and ±b), in analysis pixels. A sharp print photographed in focus rises within a pixel or two.
 */
function edgeWidth(img: Uint8Array, w: number, h: number, centres: Vec[], a: Vec, b: Vec): number {
  const widths: number[] = [];
  const steps = 96;
  for (const c of centres) {
    for (const d of [a, b, [-a[0], -a[1]] as Vec, [-b[0], -b[1]] as Vec]) {
      const len = norm(d);
      const profile: number[] = [];
      let ok = true;
      for (let k = 0; k <= steps; k++) {
        const v = sample(img, w, h, c[0] + (d[0] * k) / steps, c[1] + (d[1] * k) / steps);
        if (v === null) {
          ok = false;
          break;
        }
        profile.push(v);
      }
      if (!ok) continue;
      // Levels from the inner halves of each square, away from the edge at the middle.
      const lo = median(profile.slice(0, Math.floor(steps * 0.25)));
      const hi = median(profile.slice(Math.ceil(steps * 0.75)));
      if (hi - lo < 20) continue;
      const at = (f: number) => {
        const target = lo + f * (hi - lo);
        for (let k = 1; k <= steps; k++) {
          if (profile[k]! >= target) {
            const p = profile[k - 1]!;
            return k - 1 + (target - p) / Math.max(1e-6, profile[k]! - p);
          }
        }
        return steps;
      };
      widths.push(((at(0.9) - at(0.1)) / steps) * len);
    }
  }
  return widths.length ? median(widths) : 0;
}
