import type { BBox } from '../manifest.schema.js';

export interface Component {
  /** `[x0, y0, x1, y1]`, end exclusive, like the manifest's bbox. */
  bbox: BBox;
  areaPx: number;
}

/**
 * Connected components of the non-zero pixels of a single-channel mask, in raster order of their first pixel.
 * 8-connected: a pore outline drawn by hand touches itself diagonally, and splitting it there would count one pore
 * as two.
 */
export function connectedComponents(mask: Uint8Array, width: number, height: number): Component[] {
  if (mask.length !== width * height) throw new Error(`mask has ${mask.length} pixels, expected ${width}x${height}`);
  const seen = new Uint8Array(mask.length);
  const stack = new Int32Array(mask.length);
  const components: Component[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] === 0 || seen[start]) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    let x0 = width, y0 = height, x1 = -1, y1 = -1, area = 0;
    while (top > 0) {
      const p = stack[--top];
      const x = p % width;
      const y = (p - x) / width;
      area++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (mask[q] !== 0 && !seen[q]) {
            seen[q] = 1;
            stack[top++] = q;
          }
        }
      }
    }
    components.push({ bbox: [x0, y0, x1 + 1, y1 + 1], areaPx: area });
  }
  return components;
}

/** Diameter of the disc with the same area: how the manifest sizes a pore. */
export function equivalentDiameter(areaPx: number): number {
  return 2 * Math.sqrt(areaPx / Math.PI);
}
