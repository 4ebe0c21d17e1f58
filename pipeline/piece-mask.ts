import sharp from 'sharp';
import type { DecodedRgb } from './decode.js';
import { histogramMedian } from './histogram.js';
import type { QualityLimits } from './profile.schema.js';
import type { PieceMaskSummary } from './report.schema.js';

/**
 * Where the piece is: a binary mask of the photo, so that findings and image scores come from the piece and not from
 * the paper, card or lightbox around it. Computed once per photo on a small RGB copy (the cost does not grow with the
 * camera) and sampled at whatever scale a caller works at (`pieceMaskAt`).
 *
 * The backdrop is learned from the border strip, as the quality gate always did, but as a smooth colour field rather
 * than one grey level (`BASIS`), fitted by least trimmed squares so that a piece crossing the border does not pull it.
 * A pixel is piece when its colour is unlike that field by more than the profile's `pieceContrast` (or 3 sigmas of the
 * backdrop's own noise) on any channel, or when it lies on an edge (a pale piece's outline on a pale card). The raw
 * foreground is then cleaned: a closing bridges background-coloured reflections across the metal, holes are filled
 * unless they are large (a ring's inner opening stays background), an opening removes dust and fibres, and components
 * much smaller than the largest go.
 *
 * When the mask cannot be trusted the whole frame is the piece (`source: 'frame'`), because an unsure mask must never
 * cost a finding (`fallback` says why): most of the border is not one smooth backdrop (`background_not_uniform`); the
 * border's odd pixels are not on the piece, or the piece is a thin strip along the frame, i.e. the fit took a
 * frame-filling piece's metal for the backdrop (`piece_is_backdrop`); the outline does not follow edges in the photo,
 * i.e. shading was taken for piece (`no_outline`); the "piece" barely differs from the backdrop, as a textured
 * surface that fills the frame splits along its own brightness (`low_contrast`, magnetic-tile crops); too little is
 * piece (`no_piece`); nearly everything is (`fills_frame`).
 *
 * Known gap: a frame-filling face whose border is all metal and which carries a sharp-edged stone setting is read as
 * "a stone setting on a backdrop", and findings on the face are dropped (2 of 150 validation photos, seed 202).
 */

/**
 * Long side of the copy the mask is computed on: ~0.1 MP keeps the mask to a few ms, and at 1/3 of a ~1000-px working
 * image the outline (interpolated, see `pieceMaskAt`) is within a working pixel or two, far under any part of a piece.
 */
export const PIECE_MASK_MAX_SIDE = 384;
/** Noise sigmas of the backdrop that never count as piece (as in the quality gate). */
const BORDER_NOISE_SIGMAS = 3;
/** Least trimmed squares keeps this share of the border: up to half of it may be piece. */
const LTS_KEEP = 0.5;
const LTS_ITERATIONS = 3;
const BORDER_STEP = 2;
/** Below this share of border pixels matching the fitted backdrop, there is no one backdrop to trust. */
const MIN_BORDER_INLIERS = 0.5;
/**
 * Below this share of the outline lying on an edge of the photo, the mask follows shading, not a silhouette. Measured
 * on validation photos: real outlines 0.48-1.0 (soft shadows lower it), frame-filling pieces 0.02-0.05.
 */
const MIN_OUTLINE_ON_EDGES = 0.25;
/**
 * Morphology radii in mask pixels (~1 % and ~0.5 % of the long side): closing bridges background-coloured reflections
 * and seams up to ~2 % of the frame across; opening removes specks and fibres narrower than ~1 %. Both are far below
 * the width of a shank or a bail in a framed QC photo.
 */
const CLOSE_RADIUS = 4;
const OPEN_RADIUS = 2;
/** Closing radius for deciding what is enclosed by the piece (gaps in an outline up to ~5 % of the frame). */
const SEAL_RADIUS = 10;
/** Components smaller than this share of the largest are dust or stray reflections, not parts of the piece. */
const KEEP_COMPONENT_SHARE = 0.1;
/** A hole at least this share of the piece's own area is an opening in it (a ring's centre), not a reflection. */
const OPENING_HOLE_SHARE = 0.25;
/**
 * Of the border pixels unlike the backdrop, at least this share must end up on the piece: a piece explains where the
 * border is not backdrop. When it does not, the fit took a frame-filling piece's metal for the backdrop and the
 * "piece" is something on it (a stone setting, a hallmark).
 */
const MIN_BORDER_OUTLIERS_ON_PIECE = 0.5;
/** Fewer border outliers than this share of the border are noise and dust, not evidence either way. */
const MIN_OUTLIER_SHARE = 0.02;
/**
 * The piece's area over the length of frame edge it touches must be at least this share of the frame's short side: a
 * piece that runs off the frame still reaches well into it. A thin strip along the frame's edge is the backdrop seen
 * past a frame-filling piece, whose metal the fit took for the backdrop.
 */
const MIN_DEPTH_FROM_FRAME = 0.1;
/**
 * The piece's median difference from the backdrop must be at least this many piece thresholds. Metal against a card
 * or lightbox differs by 1.3-6.5 thresholds on validation photos; a textured surface that fills the frame (magnetic-tile
 * crops) splits into "piece" and "backdrop" along its own brightness, just over the threshold (0.4-2.3, most under 1).
 */
const MIN_PIECE_CONTRAST = 1.5;
/** Past this coverage the mask would exclude too little to be worth the risk of a wrong edge. */
const MAX_COVERAGE = 0.95;

/**
 * How far in from the silhouette patch kinds (haze, orange peel) start, in working pixels: the bright rim of every
 * silhouette and the model's own response to the step from backdrop to metal lie within it.
 */
export const SILHOUETTE_EDGE_PX = 4;
/** A region counts as on the piece when more than this share of its pixels are ("mostly"). */
export const ON_PIECE_MIN_SHARE = 0.5;

export type PieceMaskFallback = NonNullable<PieceMaskSummary['fallback']>;

export interface PieceMask {
  /** 1 = piece, row major at `width` x `height` (the analysis copy); all ones when `source` is `frame`. */
  mask: Uint8Array;
  width: number;
  height: number;
  /** `piece`: the mask found the piece; `frame`: it could not, and the whole frame stands in. */
  source: 'piece' | 'frame';
  fallback: PieceMaskFallback | null;
  /** Share of the frame on the piece after clean-up, as found (also when falling back). */
  coverage: number;
  /** Share of the border strip that matches the fitted backdrop. */
  borderInliers: number;
  /** Share of the mask's outline that lies on an edge of the photo (its weakest component's). */
  outlineOnEdges: number;
  /** The piece's median difference from the backdrop field, in piece thresholds. */
  contrast: number;
}

/**
 * The backdrop's colour field over normalised coordinates u, v in [-1, 1]: [1, u, v, u² + v²] per channel. The plane
 * follows a lightbox's or a card's gradient, the radial term vignetting and a lamp's hot spot. A full quadratic (u²,
 * v², uv apart) was tried and rejected: fitted on the border alone it bends to the colour of the metal in the middle
 * of the frame when a band crosses two sides.
 */
const BASIS = 4;

function basis(u: number, v: number, out: Float64Array): void {
  out[0] = 1;
  out[1] = u;
  out[2] = v;
  out[3] = u * u + v * v;
}

const uOf = (x: number, n: number): number => (n > 1 ? (2 * x) / (n - 1) - 1 : 0);

/** Solves the BASIS x BASIS normal equations for three right-hand sides (Gaussian elimination, partial pivoting). */
function solveNormal(ata: Float64Array, atb: Float64Array): Float64Array | null {
  const n = BASIS;
  const a = Float64Array.from(ata);
  const b = Float64Array.from(atb);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]!) > Math.abs(a[piv * n + col]!)) piv = r;
    if (Math.abs(a[piv * n + col]!) < 1e-9) return null;
    if (piv !== col) {
      for (let k = 0; k < n; k++) [a[col * n + k], a[piv * n + k]] = [a[piv * n + k]!, a[col * n + k]!];
      for (let c = 0; c < 3; c++) [b[col * 3 + c], b[piv * 3 + c]] = [b[piv * 3 + c]!, b[col * 3 + c]!];
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r * n + col]! / a[col * n + col]!;
      if (f === 0) continue;
      for (let k = col; k < n; k++) a[r * n + k]! -= f * a[col * n + k]!;
      for (let c = 0; c < 3; c++) b[r * 3 + c]! -= f * b[col * 3 + c]!;
    }
  }
  const x = new Float64Array(n * 3);
  for (let r = 0; r < n; r++) for (let c = 0; c < 3; c++) x[r * 3 + c] = b[r * 3 + c]! / a[r * n + r]!;
  return x;
}

/** Border strip pixels as coordinates. */
interface Border {
  xs: Int32Array;
  ys: Int32Array;
}

/** The border strip, every `step`-th pixel along each axis (a quarter of the pixels tell the fit as much). */
function borderStrip(w: number, h: number, strip: number, step: number): Border {
  const xs: number[] = [];
  const ys: number[] = [];
  const push = (x: number, y: number) => {
    xs.push(x);
    ys.push(y);
  };
  for (let y = 0; y < h; y += step) {
    if (y < strip || y >= h - strip) {
      for (let x = 0; x < w; x += step) push(x, y);
      continue;
    }
    for (let x = 0; x < Math.min(strip, w); x += step) push(x, y);
    for (let x = Math.max(strip, w - strip); x < w; x += step) push(x, y);
  }
  return { xs: Int32Array.from(xs), ys: Int32Array.from(ys) };
}

/** Least-squares colour field over the border pixels where `use` is set; coefficients [basis][channel]. */
function fitField(rgb: Uint8Array, w: number, h: number, border: Border, use: Uint8Array): Float64Array | null {
  const ata = new Float64Array(BASIS * BASIS);
  const atb = new Float64Array(BASIS * 3);
  const phi = new Float64Array(BASIS);
  for (let k = 0; k < border.xs.length; k++) {
    if (!use[k]) continue;
    const x = border.xs[k]!;
    const y = border.ys[k]!;
    const p = (y * w + x) * 3;
    basis(uOf(x, w), uOf(y, h), phi);
    for (let a = 0; a < BASIS; a++) {
      const pa = phi[a]!;
      for (let b = a; b < BASIS; b++) ata[a * BASIS + b]! += pa * phi[b]!;
      for (let c = 0; c < 3; c++) atb[a * 3 + c]! += pa * rgb[p + c]!;
    }
  }
  for (let a = 0; a < BASIS; a++) for (let b = 0; b < a; b++) ata[a * BASIS + b] = ata[b * BASIS + a]!;
  return solveNormal(ata, atb);
}

interface Field {
  /** field(x, y, c) = col[c * w + x] + row[c * h + y]: the basis has no u·v term, so it separates. */
  col: Float32Array;
  row: Float32Array;
}

function separableField(coef: Float64Array, w: number, h: number): Field {
  const col = new Float32Array(3 * w);
  const row = new Float32Array(3 * h);
  for (let c = 0; c < 3; c++) {
    for (let x = 0; x < w; x++) {
      const u = uOf(x, w);
      col[c * w + x] = coef[3 + c]! * u + coef[9 + c]! * u * u;
    }
    for (let y = 0; y < h; y++) {
      const v = uOf(y, h);
      row[c * h + y] = coef[c]! + coef[6 + c]! * v + coef[9 + c]! * v * v;
    }
  }
  return { col, row };
}

/** Largest per-channel difference from the field at (x, y): a colour unlike the backdrop on any channel. */
function residualAt(rgb: Uint8Array, w: number, h: number, f: Field, x: number, y: number): number {
  const p = (y * w + x) * 3;
  const r = Math.abs(rgb[p]! - f.col[x]! - f.row[y]!);
  const g = Math.abs(rgb[p + 1]! - f.col[w + x]! - f.row[h + y]!);
  const b = Math.abs(rgb[p + 2]! - f.col[2 * w + x]! - f.row[2 * h + y]!);
  return r > g ? (r > b ? r : b) : g > b ? g : b;
}

/** Quantile of values in [0, 255], to a quarter level, by histogram. */
function quantile(values: Float32Array, q: number): number {
  const hist = new Uint32Array(1024);
  for (let k = 0; k < values.length; k++) hist[Math.min(1023, Math.floor(values[k]! * 4))]!++;
  const want = q * values.length;
  let acc = 0;
  for (let b = 0; b < 1024; b++) {
    acc += hist[b]!;
    if (acc >= want) return (b + 1) / 4;
  }
  return 256;
}

/**
 * The backdrop's pixel noise from horizontal neighbour differences (green) in the border: edges inside the strip are
 * rare, so the median ignores them; the difference of two pixels of noise sigma has a median of 0.954 sigma.
 */
function borderNoise(rgb: Uint8Array, w: number, border: Border): number {
  const hist = new Uint32Array(256);
  let n = 0;
  for (let k = 0; k < border.xs.length; k++) {
    if (border.xs[k] === w - 1) continue;
    const i = border.ys[k]! * w + border.xs[k]!;
    hist[Math.abs(rgb[(i + 1) * 3 + 1]! - rgb[i * 3 + 1]!)]!++;
    n++;
  }
  return histogramMedian(hist, n) / 0.954;
}

/**
 * Binary square dilation (`all = false`) or erosion (`all = true`) of radius `r`: separable running counts, O(pixels).
 * Beyond the frame counts as `outside`.
 */
export function morph(src: Uint8Array, w: number, h: number, r: number, all: boolean, outside: 0 | 1): Uint8Array {
  if (r <= 0) return Uint8Array.from(src);
  const need = all ? 2 * r + 1 : 1;
  const tmp = new Uint8Array(w * h);
  const out = new Uint8Array(w * h);
  // Rows: a padded copy of each row, so the running count needs no bounds checks.
  const pad = new Uint8Array(w + 2 * r + 1).fill(outside);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    pad.set(src.subarray(row, row + w), r);
    let count = 0;
    for (let k = 0; k < 2 * r + 1; k++) count += pad[k]!;
    for (let x = 0; x < w; x++) {
      tmp[row + x] = count >= need ? 1 : 0;
      count += pad[x + 2 * r + 1]! - pad[x]!;
    }
  }
  // Columns, walked row by row (cache-friendly): one running count per column.
  const counts = new Int32Array(w);
  for (let k = -r; k <= r; k++) {
    if (k < 0 || k >= h) for (let x = 0; x < w; x++) counts[x]! += outside;
    else for (let x = 0, o = k * w; x < w; x++) counts[x]! += tmp[o + x]!;
  }
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) out[row + x] = counts[x]! >= need ? 1 : 0;
    const add = y + r + 1;
    const drop = y - r;
    const addIn = add < h;
    const dropIn = drop >= 0;
    for (let x = 0; x < w; x++) counts[x]! += (addIn ? tmp[add * w + x]! : outside) - (dropIn ? tmp[drop * w + x]! : outside);
  }
  return out;
}

/** 4-connected components of pixels equal to `value`: labels (1-based, 0 elsewhere), areas, and whether each touches
 * the frame. */
function components(mask: Uint8Array, w: number, h: number, value: 0 | 1): { labels: Int32Array; areas: number[]; touches: boolean[] } {
  const labels = new Int32Array(w * h);
  const areas: number[] = [0];
  const touches: boolean[] = [false];
  const stack = new Int32Array(w * h);
  for (let start = 0; start < w * h; start++) {
    if (mask[start] !== value || labels[start] !== 0) continue;
    const id = areas.length;
    let area = 0;
    let touch = false;
    let top = 0;
    stack[top++] = start;
    labels[start] = id;
    while (top > 0) {
      const i = stack[--top]!;
      area++;
      const x = i % w;
      const y = (i - x) / w;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) touch = true;
      if (x > 0 && mask[i - 1] === value && labels[i - 1] === 0) (labels[i - 1] = id), (stack[top++] = i - 1);
      if (x < w - 1 && mask[i + 1] === value && labels[i + 1] === 0) (labels[i + 1] = id), (stack[top++] = i + 1);
      if (y > 0 && mask[i - w] === value && labels[i - w] === 0) (labels[i - w] = id), (stack[top++] = i - w);
      if (y < h - 1 && mask[i + w] === value && labels[i + w] === 0) (labels[i + w] = id), (stack[top++] = i + w);
    }
    areas.push(area);
    touches.push(touch);
  }
  return { labels, areas, touches };
}

/** A colour step of at least `step` on any channel across pixel (x, y), horizontally or vertically (central
 * differences; the caller keeps (x, y) off the frame's edge). */
function edgeAt(rgb: Uint8Array, w: number, x: number, y: number, step: number): boolean {
  const i = (y * w + x) * 3;
  const dy = 3 * w;
  for (let c = 0; c < 3; c++) {
    if (Math.abs(rgb[i + 3 + c]! - rgb[i - 3 + c]!) >= step || Math.abs(rgb[i + dy + c]! - rgb[i - dy + c]!) >= step) return true;
  }
  return false;
}

/**
 * Fills holes in place: backdrop areas cut off from the frame, either in the mask itself or in `sealed` (the mask
 * closed harder, so that a gap in a pale piece's outline does not let its backdrop-coloured face count as backdrop),
 * unless they are openings in the piece.
 */
function fillHoles(fg: Uint8Array, sealed: Uint8Array, w: number, h: number): void {
  let area = 0;
  for (let i = 0; i < w * h; i++) area += fg[i]!;
  const opening = OPENING_HOLE_SHARE * area;
  const own = components(fg, w, h, 0);
  const hard = components(sealed, w, h, 0);
  for (let i = 0; i < w * h; i++) {
    if (fg[i]) continue;
    const a = own.labels[i]!;
    const b = hard.labels[i]!;
    const enclosed = !own.touches[a] && own.areas[a]! < opening;
    const sealedIn = b !== 0 && !hard.touches[b] && hard.areas[b]! < opening;
    if (enclosed || sealedIn) fg[i] = 1;
  }
}

/**
 * Per component of the mask (labels 1..count), the share of its outline (away from the frame's edge) that lies on an
 * edge of the photo, a colour step of at least half the piece threshold within 2 px; the weakest component's share is
 * returned. A piece has an outline; a part of the mask that follows smooth shading (a frame-filling piece's highlight
 * taken for piece against its darker metal) does not.
 */
function outlineOnEdges(rgb: Uint8Array, w: number, h: number, labels: Int32Array, count: number, threshold: number): number {
  const step = threshold / 2;
  const outline = new Float64Array(count + 1);
  const onEdge = new Float64Array(count + 1);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const l = labels[i]!;
      if (l === 0 || (labels[i - 1] && labels[i + 1] && labels[i - w] && labels[i + w])) continue;
      outline[l]!++;
      search: for (let yy = Math.max(1, y - 2); yy <= Math.min(h - 2, y + 2); yy++) {
        for (let xx = Math.max(1, x - 2); xx <= Math.min(w - 2, x + 2); xx++) {
          if (edgeAt(rgb, w, xx, yy, step)) {
            onEdge[l]!++;
            break search;
          }
        }
      }
    }
  }
  let weakest = 1;
  for (let l = 1; l <= count; l++) if (outline[l]! > 0) weakest = Math.min(weakest, onEdge[l]! / outline[l]!);
  return weakest;
}

/** The piece's median difference from the backdrop field, in units of the piece threshold. */
function pieceContrast(rgb: Uint8Array, w: number, h: number, field: Field, fg: Uint8Array, threshold: number): number {
  const hist = new Uint32Array(1024);
  let n = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!fg[y * w + x]) continue;
      hist[Math.min(1023, Math.floor((residualAt(rgb, w, h, field, x, y) / threshold) * 100))]!++;
      n++;
    }
  }
  return histogramMedian(hist, n) / 100;
}

function wholeFrame(w: number, h: number, fallback: PieceMaskFallback, found: Pick<PieceMask, 'coverage' | 'borderInliers' | 'outlineOnEdges' | 'contrast'>): PieceMask {
  const all = new Uint8Array(w * h).fill(1);
  return { mask: all, width: w, height: h, source: 'frame', fallback, ...found };
}

/** The piece mask of a packed RGB image of any size (the work happens on a copy of at most `PIECE_MASK_MAX_SIDE`). */
export async function computePieceMask(rgb: DecodedRgb, limits: QualityLimits): Promise<PieceMask> {
  const scale = Math.min(1, PIECE_MASK_MAX_SIDE / Math.max(rgb.width, rgb.height));
  const w = Math.max(1, Math.round(rgb.width * scale));
  const h = Math.max(1, Math.round(rgb.height * scale));
  let small: Uint8Array = rgb.data;
  if (w !== rgb.width || h !== rgb.height) {
    small = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
      .resize(w, h, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
  }
  return pieceMaskOf(small, w, h, limits);
}

/** The piece mask of a packed RGB buffer at its own size (`computePieceMask` downsizes first). */
export function pieceMaskOf(rgb: Uint8Array, w: number, h: number, limits: QualityLimits): PieceMask {
  const n = w * h;
  const strip = Math.max(1, Math.round(limits.borderFraction * Math.min(w, h)));
  const border = borderStrip(w, h, strip, BORDER_STEP);
  const nb = border.xs.length;
  const res = new Float32Array(nb);
  const residualsAtBorder = (c: Float64Array) => {
    const f = separableField(c, w, h);
    for (let k = 0; k < nb; k++) res[k] = residualAt(rgb, w, h, f, border.xs[k]!, border.ys[k]!);
  };

  // Least trimmed squares: refit on the half of the border closest to the current field.
  const use = new Uint8Array(nb).fill(1);
  let coef = fitField(rgb, w, h, border, use);
  for (let it = 0; it < LTS_ITERATIONS && coef; it++) {
    residualsAtBorder(coef);
    const cut = quantile(res, LTS_KEEP);
    for (let k = 0; k < nb; k++) use[k] = res[k]! <= cut ? 1 : 0;
    coef = fitField(rgb, w, h, border, use);
  }
  if (!coef) return wholeFrame(w, h, 'background_not_uniform', { coverage: 1, borderInliers: 0, outlineOnEdges: 0, contrast: 0 });

  const threshold = Math.max(limits.pieceContrast * 255, BORDER_NOISE_SIGMAS * borderNoise(rgb, w, border));
  // Final fit on every border pixel that matches the backdrop, so the field uses all of the backdrop it can see.
  residualsAtBorder(coef);
  for (let k = 0; k < nb; k++) use[k] = res[k]! <= threshold ? 1 : 0;
  coef = fitField(rgb, w, h, border, use) ?? coef;
  residualsAtBorder(coef);
  let inliers = 0;
  for (let k = 0; k < nb; k++) if (res[k]! <= threshold) inliers++;
  const borderInliers = nb > 0 ? inliers / nb : 0;

  // Piece: unlike the backdrop, or on an edge of the photo. Pale metal on a pale card can match the backdrop's colour
  // over much of its face, but its outline (rim, bevel, shadow line) still shows as an edge; closed, then filled, the
  // outline brings the face back.
  const field = separableField(coef, w, h);
  let fg: Uint8Array = new Uint8Array(n);
  const edgeStep = threshold / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const unlike = residualAt(rgb, w, h, field, x, y) > threshold;
      fg[y * w + x] = unlike || (x > 0 && y > 0 && x < w - 1 && y < h - 1 && edgeAt(rgb, w, x, y, edgeStep)) ? 1 : 0;
    }
  }

  // Close (bridges reflections and gaps in the outline), fill holes, then open (removes dust, fibres and the edges of
  // backdrop texture). The erosions treat beyond the frame as piece, so a piece that runs off the frame keeps its edge.
  fg = morph(morph(fg, w, h, CLOSE_RADIUS, false, 0), w, h, CLOSE_RADIUS, true, 1);
  fillHoles(fg, morph(morph(fg, w, h, SEAL_RADIUS, false, 0), w, h, SEAL_RADIUS, true, 1), w, h);
  fg = morph(morph(fg, w, h, OPEN_RADIUS, true, 1), w, h, OPEN_RADIUS, false, 0);

  // Keep the piece's components: all those within a factor of the largest.
  const fgc = components(fg, w, h, 1);
  let largest = 0;
  for (const a of fgc.areas) if (a > largest) largest = a;
  const keep = new Int32Array(fgc.areas.length);
  let kept = 0;
  for (let l = 1; l < fgc.areas.length; l++) if (fgc.areas[l]! >= KEEP_COMPONENT_SHARE * largest) keep[l] = ++kept;
  let area = 0;
  for (let i = 0; i < n; i++) {
    const k = keep[fgc.labels[i]!]!;
    fgc.labels[i] = k;
    fg[i] = k > 0 ? 1 : 0;
    area += fg[i]!;
  }
  const found = {
    coverage: area / n,
    borderInliers,
    outlineOnEdges: outlineOnEdges(rgb, w, h, fgc.labels, kept, threshold),
    contrast: pieceContrast(rgb, w, h, field, fg, threshold),
  };

  if (found.borderInliers < MIN_BORDER_INLIERS) return wholeFrame(w, h, 'background_not_uniform', found);
  let outliers = 0;
  let outliersOnPiece = 0;
  for (let k = 0; k < nb; k++) {
    if (res[k]! <= threshold) continue;
    outliers++;
    outliersOnPiece += fg[border.ys[k]! * w + border.xs[k]!]!;
  }
  let contact = 0;
  for (let x = 0; x < w; x++) contact += fg[x]! + fg[(h - 1) * w + x]!;
  for (let y = 1; y < h - 1; y++) contact += fg[y * w]! + fg[y * w + w - 1]!;
  const thinAlongFrame = contact > 0 && area / contact < MIN_DEPTH_FROM_FRAME * Math.min(w, h);
  if ((outliers > MIN_OUTLIER_SHARE * nb && outliersOnPiece < MIN_BORDER_OUTLIERS_ON_PIECE * outliers) || thinAlongFrame) {
    return wholeFrame(w, h, 'piece_is_backdrop', found);
  }
  if (found.coverage < limits.minPieceFraction) return wholeFrame(w, h, 'no_piece', found);
  if (found.coverage > MAX_COVERAGE) return wholeFrame(w, h, 'fills_frame', found);
  if (found.outlineOnEdges < MIN_OUTLINE_ON_EDGES) return wholeFrame(w, h, 'no_outline', found);
  if (found.contrast < MIN_PIECE_CONTRAST) return wholeFrame(w, h, 'low_contrast', found);
  return { mask: fg, width: w, height: h, source: 'piece', fallback: null, ...found };
}

/** Chamfer distance (1, sqrt 2), two passes: for each pixel equal to `value`, the distance to the nearest other one. */
function chamfer(mask: Uint8Array, w: number, h: number, value: 0 | 1): Float32Array {
  const far = w + h;
  const d = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) d[i] = mask[i] === value ? far : 0;
  const D = Math.SQRT2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let v = d[i]!;
      if (v === 0) continue;
      if (x > 0) v = Math.min(v, d[i - 1]! + 1);
      if (y > 0) {
        v = Math.min(v, d[i - w]! + 1);
        if (x > 0) v = Math.min(v, d[i - w - 1]! + D);
        if (x < w - 1) v = Math.min(v, d[i - w + 1]! + D);
      }
      d[i] = v;
    }
  }
  for (let y = h - 1; y >= 0; y--) {
    for (let x = w - 1; x >= 0; x--) {
      const i = y * w + x;
      let v = d[i]!;
      if (v === 0) continue;
      if (x < w - 1) v = Math.min(v, d[i + 1]! + 1);
      if (y < h - 1) {
        v = Math.min(v, d[i + w]! + 1);
        if (x < w - 1) v = Math.min(v, d[i + w + 1]! + D);
        if (x > 0) v = Math.min(v, d[i + w - 1]! + D);
      }
      d[i] = v;
    }
  }
  return d;
}

/**
 * Distance (mask pixels) by which a cell's corners must clear every cut for the cell to be settled without
 * interpolating: far above float64 rounding, far below anything that matters to a mask.
 */
const SETTLED_MARGIN = 1e-6;
const CELL_OUT = 0;
const CELL_IN = 1;
const CELL_MIXED = 2;

/**
 * Each cell of the signed-distance field (the square between four mask pixel centres) as out of every cut, in every
 * cut, or crossed by the outline; and, per cell, where its row's run of equal cells ends. A bilinear value lies
 * between the cell's corner values (and rounding is monotonic), so a settled cell's target pixels need no
 * interpolation: only cells on the outline are resampled pixel by pixel.
 */
function settledCells(sd: Float32Array, pw: number, ph: number, cutLo: number, cutHi: number): { state: Uint8Array; runEnd: Int32Array } {
  const cw = pw - 1;
  const state = new Uint8Array(cw * (ph - 1));
  const runEnd = new Int32Array(cw * (ph - 1));
  for (let cy = 0; cy < ph - 1; cy++) {
    const r0 = cy * pw;
    const r1 = r0 + pw;
    for (let cx = 0; cx < cw; cx++) {
      const a = sd[r0 + cx]!;
      const b = sd[r0 + cx + 1]!;
      const c = sd[r1 + cx]!;
      const d = sd[r1 + cx + 1]!;
      const lo = Math.min(a, b, c, d);
      const hi = Math.max(a, b, c, d);
      state[cy * cw + cx] = lo > cutHi + SETTLED_MARGIN ? CELL_IN : hi < cutLo - SETTLED_MARGIN ? CELL_OUT : CELL_MIXED;
    }
    for (let cx = cw - 1, end = cw; cx >= 0; cx--) {
      const i = cy * cw + cx;
      if (cx < cw - 1 && state[i] !== state[i + 1]) end = cx + 1;
      runEnd[i] = end;
    }
  }
  return { state, runEnd };
}

/**
 * A binary mask at another size, thresholded at several depths in one pass: out[k] is the mask `erodePx[k]` target
 * pixels in from its outline (0: the outline itself). The signed distance to the outline (positive inside, the outline
 * half-way between mask pixel centres) is interpolated bilinearly, so the upsampled outline is smooth and an erosion
 * costs nothing extra. Distances are to the nearest outside pixel within the frame: a piece that runs off the frame is
 * not eroded along the frame's edge.
 */
export function resampleMask(mask: Uint8Array, pw: number, ph: number, width: number, height: number, erodePx: readonly number[]): Uint8Array[] {
  const outs = erodePx.map(() => new Uint8Array(width * height));
  const sx = pw / width;
  const sy = ph / height;
  if (pw < 2 || ph < 2) {
    for (let y = 0; y < height; y++) {
      const src = Math.min(ph - 1, Math.floor((y + 0.5) * sy)) * pw;
      for (let x = 0; x < width; x++) for (const out of outs) out[y * width + x] = mask[src + Math.min(pw - 1, Math.floor((x + 0.5) * sx))]!;
    }
    return outs;
  }
  const inside = chamfer(mask, pw, ph, 1);
  const outside = chamfer(mask, pw, ph, 0);
  const sd = new Float32Array(pw * ph);
  for (let i = 0; i < pw * ph; i++) sd[i] = mask[i] ? inside[i]! - 0.5 : 0.5 - outside[i]!;
  // Erosions are given in target pixels; the field is in mask pixels.
  const cuts = erodePx.map((e) => e * Math.max(sx, sy));
  const x0s = new Int32Array(width);
  const fxs = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const m = Math.min(pw - 1, Math.max(0, (x + 0.5) * sx - 0.5));
    x0s[x] = Math.min(pw - 2, Math.floor(m));
    fxs[x] = m - x0s[x]!;
  }
  const cells = settledCells(sd, pw, ph, Math.min(...cuts), Math.max(...cuts));
  // The target columns of mask cell c are [firstX[c], firstX[c + 1]) (none when the target is the coarser).
  const cw = pw - 1;
  const firstX = new Int32Array(cw + 1).fill(width);
  for (let x = width - 1; x >= 0; x--) firstX[x0s[x]!] = x;
  for (let c = cw - 1; c >= 0; c--) firstX[c] = Math.min(firstX[c]!, firstX[c + 1]!);
  for (let y = 0; y < height; y++) {
    const m = Math.min(ph - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.min(ph - 2, Math.floor(m));
    const fy = m - y0;
    const r0 = y0 * pw;
    const r1 = r0 + pw;
    const row = y * width;
    const cellRow = y0 * cw;
    for (let c = 0; c < cw; ) {
      const state = cells.state[cellRow + c]!;
      const end = cells.runEnd[cellRow + c]!;
      const xs = firstX[c]!;
      const xe = firstX[end]!;
      if (state === CELL_IN) {
        for (const out of outs) out.fill(1, row + xs, row + xe);
      } else if (state === CELL_MIXED) {
        for (let x = xs; x < xe; x++) {
          const x0 = x0s[x]!;
          const fx = fxs[x]!;
          const top = sd[r0 + x0]! + (sd[r0 + x0 + 1]! - sd[r0 + x0]!) * fx;
          const bottom = sd[r1 + x0]! + (sd[r1 + x0 + 1]! - sd[r1 + x0]!) * fx;
          const d = top + (bottom - top) * fy;
          for (let k = 0; k < outs.length; k++) outs[k]![row + x] = d > cuts[k]! ? 1 : 0;
        }
      }
      c = end;
    }
  }
  return outs;
}

/** The piece at another size, optionally eroded (see `resampleMask`); all ones when the whole frame stands in. */
export function pieceMaskAt(piece: PieceMask, width: number, height: number, erodePx = 0): Uint8Array {
  if (piece.source === 'frame') return new Uint8Array(width * height).fill(1);
  return resampleMask(piece.mask, piece.width, piece.height, width, height, [erodePx])[0]!;
}

/**
 * What post-processing gates findings and image scores on, at one working scale: `piece` for pores and lines, and
 * `inner`, the piece `edgeErodePx` working pixels in from its silhouette, for patch kinds (haze, orange peel), so the
 * bright rim every silhouette has does not count. Both are the whole frame when the mask fell back.
 */
export interface PieceGates {
  piece: Uint8Array;
  inner: Uint8Array;
}

export function pieceGatesAt(piece: PieceMask, width: number, height: number, edgeErodePx: number): PieceGates {
  if (piece.source === 'frame') {
    const all = new Uint8Array(width * height).fill(1);
    return { piece: all, inner: all };
  }
  const [whole, inner] = resampleMask(piece.mask, piece.width, piece.height, width, height, [0, edgeErodePx]);
  return { piece: whole!, inner: inner! };
}
