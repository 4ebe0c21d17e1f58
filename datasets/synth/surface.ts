/**
 * The per-pixel scene description that geometry, stones, marks and defects write into and the shader reads.
 * Everything is in final image coordinates (x right, y down, z towards the camera), so labels drawn here are exact
 * in the final photo: the oblique view is modelled in the geometry, never by warping pixels afterwards.
 */

export const MAT_BACKGROUND = 0;
export const MAT_METAL = 1;
export const MAT_PRONG = 2;
export const MAT_STONE = 3;
export const MAT_HOLE = 4;

export interface Surface {
  width: number;
  height: number;
  /** Pixels per millimetre. */
  pxPerMm: number;
  mat: Uint8Array;
  /** Anti-aliased coverage of the piece's silhouette, 0..1. */
  cov: Float32Array;
  nx: Float32Array;
  ny: Float32Array;
  nz: Float32Array;
  /** Height perturbation in mm along the base normal (pores, grooves, stamps, brushing, orange peel). */
  hp: Float32Array;
  /** Multiplier on the shaded metal: cavity darkening below 1, lit rims above 1. */
  gain: Float32Array;
  /** Extra isotropic roughness, radians (haze). */
  rough: Float32Array;
  /** Milky veil of hazy metal, 0..1. */
  veil: Float32Array;
  /** Brushed finish weight 0..1 and the direction of its lines, radians. */
  brush: Float32Array;
  brushAng: Float32Array;
  /** Which part of the piece: 0 none, 1 top face (where stones may be set), 2 side wall, 3 bail. */
  face: Uint8Array;
  /** 1 where defects may not be placed: stones, seats, prongs, rails, stamps, other defects, silhouette margins. */
  protect: Uint8Array;
}

export function createSurface(width: number, height: number, pxPerMm: number): Surface {
  const n = width * height;
  const nz = new Float32Array(n).fill(1);
  return {
    width,
    height,
    pxPerMm,
    mat: new Uint8Array(n),
    cov: new Float32Array(n),
    nx: new Float32Array(n),
    ny: new Float32Array(n),
    nz,
    hp: new Float32Array(n),
    gain: new Float32Array(n).fill(1),
    rough: new Float32Array(n),
    veil: new Float32Array(n),
    brush: new Float32Array(n),
    brushAng: new Float32Array(n),
    face: new Uint8Array(n),
    protect: new Uint8Array(n),
  };
}

/** A pixel where a defect may sit: fully covered plain metal, not protected. */
export function isFreeMetal(s: Surface, i: number): boolean {
  return s.mat[i] === MAT_METAL && s.protect[i] === 0 && s.cov[i] >= 0.999;
}

/** Marks a margin of `marginPx` around the silhouette and around every non-metal pixel as protected. */
export function protectMargins(s: Surface, marginPx: number): void {
  const { width: w, height: h } = s;
  const edge = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (s.mat[i] !== MAT_METAL || s.cov[i] < 0.999) edge[i] = 1;
    }
  }
  const dist = chamfer(edge, w, h);
  for (let i = 0; i < w * h; i++) if (dist[i] <= marginPx) s.protect[i] = 1;
}

/** Two-pass chamfer distance (px) to the nearest set pixel; cheap and good enough for margins. */
export function chamfer(src: Uint8Array, w: number, h: number): Float32Array {
  const INF = 1e9;
  const d = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) d[i] = src[i] ? 0 : INF;
  const a = 1;
  const b = Math.SQRT2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let v = d[i];
      if (x > 0) v = Math.min(v, d[i - 1] + a);
      if (y > 0) {
        v = Math.min(v, d[i - w] + a);
        if (x > 0) v = Math.min(v, d[i - w - 1] + b);
        if (x < w - 1) v = Math.min(v, d[i - w + 1] + b);
      }
      d[i] = v;
    }
  }
  for (let y = h - 1; y >= 0; y--) {
    for (let x = w - 1; x >= 0; x--) {
      const i = y * w + x;
      let v = d[i];
      if (x < w - 1) v = Math.min(v, d[i + 1] + a);
      if (y < h - 1) {
        v = Math.min(v, d[i + w] + a);
        if (x < w - 1) v = Math.min(v, d[i + w + 1] + b);
        if (x > 0) v = Math.min(v, d[i + w - 1] + b);
      }
      d[i] = v;
    }
  }
  return d;
}

/**
 * Picks random free-metal pixels by sampling from the list of them (rather than the whole frame, where a small
 * piece would make most draws miss). The list is taken once; callers re-check freedom as defects accumulate.
 */
export class FreeMetalSampler {
  private readonly free: Int32Array;
  constructor(private readonly s: Surface) {
    const n = s.width * s.height;
    let count = 0;
    for (let i = 0; i < n; i++) if (isFreeMetal(s, i)) count++;
    this.free = new Int32Array(count);
    for (let i = 0, k = 0; i < n; i++) if (isFreeMetal(s, i)) this.free[k++] = i;
  }
  get size(): number {
    return this.free.length;
  }
  /** A free pixel not marked in `occupied`, or null after `tries` misses. */
  pick(rng: { int(lo: number, hi: number): number }, occupied: Uint8Array, tries = 100): [number, number] | null {
    if (this.free.length === 0) return null;
    for (let t = 0; t < tries; t++) {
      const i = this.free[rng.int(0, this.free.length - 1)];
      if (!occupied[i] && isFreeMetal(this.s, i)) return [i % this.s.width, Math.floor(i / this.s.width)];
    }
    return null;
  }
}
