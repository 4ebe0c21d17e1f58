import type { Rng } from './rng.js';

/**
 * Lattice value noise on a grid of random values, bilinear with a smoothstep: cheap enough to fill full frames at
 * several octaves, and its cell size is in pixels so textures keep their physical scale at any --size.
 */
export class ValueNoise {
  private readonly grid: Float32Array;
  private readonly gw: number;
  private readonly gh: number;

  constructor(
    rng: Rng,
    private readonly cellX: number,
    private readonly cellY: number,
    spanX: number,
    spanY: number,
  ) {
    this.gw = Math.ceil(spanX / cellX) + 3;
    this.gh = Math.ceil(spanY / cellY) + 3;
    this.grid = new Float32Array(this.gw * this.gh);
    for (let i = 0; i < this.grid.length; i++) this.grid[i] = rng.float() * 2 - 1;
  }

  /** In [-1, 1]. Coordinates outside the span wrap. */
  at(x: number, y: number): number {
    let gx = x / this.cellX + 1;
    let gy = y / this.cellY + 1;
    const mx = this.gw - 1;
    const my = this.gh - 1;
    if (gx < 0 || gx >= mx) gx = ((gx % mx) + mx) % mx;
    if (gy < 0 || gy >= my) gy = ((gy % my) + my) % my;
    const ix = Math.floor(gx);
    const iy = Math.floor(gy);
    let fx = gx - ix;
    let fy = gy - iy;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    const g = this.grid;
    const w = this.gw;
    const i0 = iy * w + ix;
    const a = g[i0] + (g[i0 + 1] - g[i0]) * fx;
    const b = g[i0 + w] + (g[i0 + w + 1] - g[i0 + w]) * fx;
    return a + (b - a) * fy;
  }
}

/** Fractal sum of value noise over a full frame, normalised to roughly [-1, 1]. */
export function fbmField(rng: Rng, width: number, height: number, cellPx: number, octaves: number, gain = 0.5): Float32Array {
  const out = new Float32Array(width * height);
  let amp = 1;
  let norm = 0;
  let cell = cellPx;
  for (let o = 0; o < octaves; o++) {
    const noise = new ValueNoise(rng, cell, cell, width, height);
    for (let y = 0, i = 0; y < height; y++) for (let x = 0; x < width; x++, i++) out[i] += amp * noise.at(x, y);
    norm += amp;
    amp *= gain;
    cell = Math.max(1, cell / 2);
  }
  for (let i = 0; i < out.length; i++) out[i] /= norm;
  return out;
}
