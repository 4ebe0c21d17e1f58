import type { Verifier } from '../model-manifest.schema.js';

/**
 * Where the polish verifier looks: per polish kind, the strongest on-piece pixel of every `cell` x `cell` cell of the
 * kind's seg map, strongest first, kept when at least `minDistPx` from every candidate already kept for that kind and
 * at least `floor`, at most `perKind`; plus an on-piece grid. The same rule as `models/training/verifier.py`
 * `candidates`, which made the verifier's training examples: change both or neither.
 */

export interface PolishCandidate {
  x: number;
  y: number;
  /** Index of the kind whose map proposed it; -1 for a grid point. */
  source: number;
  /** That map's value there (0 for a grid point). */
  value: number;
}

export function polishCandidates(
  planes: readonly Float32Array[],
  width: number,
  height: number,
  onPiece: Uint8Array,
  rule: Verifier['candidates'],
): PolishCandidate[] {
  const { cell, minDistPx, perKind, floor, gridPx } = rule;
  const out: PolishCandidate[] = [];
  const minD2 = minDistPx * minDistPx;
  // One scan of each cell serves every kind: the piece mask is read once per pixel, not once per kind, and a cell
  // with no pixel on the piece is skipped (the piece fills a third to a half of a photo; the scan over five planes was
  // the verifier's slowest step). Off the piece a pixel counts as -1, as before: it can never beat a floor >= -1.
  const K = planes.length;
  const cellsByKind: PolishCandidate[][] = planes.map(() => []);
  const best = new Float32Array(K);
  const bestAt = new Int32Array(K);
  for (let by = 0; by < height; by += cell) {
    for (let bx = 0; bx < width; bx += cell) {
      best.fill(-1);
      bestAt.fill(-1);
      const y1 = Math.min(height, by + cell);
      const x1 = Math.min(width, bx + cell);
      // Row-major first maximum within the cell, as numpy's argmax over the cell's row-major pixels.
      for (let y = by; y < y1; y++) {
        const row = y * width;
        for (let x = bx; x < x1; x++) {
          const i = row + x;
          if (!onPiece[i]) continue;
          for (let k = 0; k < K; k++) {
            const v = planes[k]![i]!;
            if (v > best[k]!) {
              best[k] = v;
              bestAt[k] = i;
            }
          }
        }
      }
      for (let k = 0; k < K; k++) {
        // A cell wholly off the piece: numpy's argmax of all -1 is the cell's first pixel.
        const at = bestAt[k]! >= 0 ? bestAt[k]! : by * width + bx;
        if (best[k]! >= floor) cellsByKind[k]!.push({ x: at % width, y: Math.floor(at / width), source: k, value: best[k]! });
      }
    }
  }
  for (const cells of cellsByKind) {
    cells.sort((a, b) => b.value - a.value || a.y - b.y || a.x - b.x);
    const kept: PolishCandidate[] = [];
    for (const c of cells) {
      if (kept.every((q) => (c.x - q.x) ** 2 + (c.y - q.y) ** 2 >= minD2)) {
        kept.push(c);
        if (kept.length === perKind) break;
      }
    }
    out.push(...kept);
  }
  if (gridPx > 0) {
    for (let y = gridPx >> 1; y < height; y += gridPx) {
      for (let x = gridPx >> 1; x < width; x += gridPx) {
        if (onPiece[y * width + x]) out.push({ x, y, source: -1, value: 0 });
      }
    }
  }
  return out;
}
