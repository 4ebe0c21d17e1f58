/**
 * Gaussian blur by three box passes (the classic approximation): linear in the image size whatever the sigma, and
 * deterministic across machines, unlike relying on an encoder's internal resampling.
 */
export function gaussianBlur(src: Float32Array, width: number, height: number, sigma: number, inPlace = false): Float32Array {
  if (sigma < 0.2) return inPlace ? src : src.slice();
  const boxes = boxSizes(sigma, 3);
  const a = inPlace ? src : src.slice();
  const b = new Float32Array(src.length);
  for (const size of boxes) {
    const r = (size - 1) / 2;
    boxH(a, b, width, height, r);
    boxV(b, a, width, height, r);
  }
  return a;
}

function boxSizes(sigma: number, n: number): number[] {
  const wIdeal = Math.sqrt((12 * sigma * sigma) / n + 1);
  let wl = Math.floor(wIdeal);
  if (wl % 2 === 0) wl--;
  const wu = wl + 2;
  const mIdeal = (12 * sigma * sigma - n * wl * wl - 4 * n * wl - 3 * n) / (-4 * wl - 4);
  const m = Math.round(mIdeal);
  const sizes: number[] = [];
  for (let i = 0; i < n; i++) sizes.push(i < m ? wl : wu);
  return sizes;
}

function boxH(src: Float32Array, dst: Float32Array, w: number, h: number, r: number): void {
  const inv = 1 / (2 * r + 1);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    const first = src[row];
    const last = src[row + w - 1];
    let acc = (r + 1) * first;
    for (let j = 0; j < r; j++) acc += src[row + Math.min(j, w - 1)];
    for (let x = 0; x < w; x++) {
      const add = x + r < w ? src[row + x + r] : last;
      const sub = x - r - 1 >= 0 ? src[row + x - r - 1] : first;
      acc += add - sub;
      dst[row + x] = acc * inv;
    }
  }
}

/** Vertical pass row by row with a running sum per column: cache-friendly, unlike walking down columns. */
function boxV(src: Float32Array, dst: Float32Array, w: number, h: number, r: number): void {
  const inv = 1 / (2 * r + 1);
  const acc = new Float64Array(w);
  const rowAt = (y: number) => (y < 0 ? 0 : y >= h ? h - 1 : y) * w;
  for (let j = -r; j <= r; j++) {
    const o = rowAt(j);
    for (let x = 0; x < w; x++) acc[x] += src[o + x];
  }
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let x = 0; x < w; x++) dst[o + x] = acc[x] * inv;
    const add = rowAt(y + r + 1);
    const sub = rowAt(y - r);
    for (let x = 0; x < w; x++) acc[x] += src[add + x] - src[sub + x];
  }
}

/** Blur of a smooth field (shadows): computed at 1/factor resolution and upsampled bilinearly. */
export function blurDownsampled(src: Float32Array, width: number, height: number, sigma: number, factor: number): Float32Array {
  if (factor <= 1) return gaussianBlur(src, width, height, sigma);
  const w = Math.ceil(width / factor);
  const h = Math.ceil(height / factor);
  const small = new Float32Array(w * h);
  const cnt = new Float32Array(w * h);
  for (let y = 0; y < height; y++) {
    const sy = Math.floor(y / factor) * w;
    for (let x = 0; x < width; x++) {
      const k = sy + Math.floor(x / factor);
      small[k] += src[y * width + x];
      cnt[k]++;
    }
  }
  for (let k = 0; k < small.length; k++) small[k] /= cnt[k] || 1;
  const b = gaussianBlur(small, w, h, sigma / factor);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const fy = Math.min(h - 1, Math.max(0, (y + 0.5) / factor - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const ty = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(w - 1, Math.max(0, (x + 0.5) / factor - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(w - 1, x0 + 1);
      const tx = fx - x0;
      const a = b[y0 * w + x0] * (1 - tx) + b[y0 * w + x1] * tx;
      const c = b[y1 * w + x0] * (1 - tx) + b[y1 * w + x1] * tx;
      out[y * width + x] = a * (1 - ty) + c * ty;
    }
  }
  return out;
}
