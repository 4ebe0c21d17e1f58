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
  // A cell with no pixel on the piece is skipped (the piece fills a third to a half of a photo); within a cell each
  // kind's plane is scanned on its own, so the inner loop reads one array (five planes per pixel was the verifier's
  // slowest step). Off the piece a pixel counts as -1: it can never reach the floor (>= 0).
  const K = planes.length;
  const cellsByKind: PolishCandidate[][] = planes.map(() => []);
  for (let by = 0; by < height; by += cell) {
    const y1 = Math.min(height, by + cell);
    for (let bx = 0; bx < width; bx += cell) {
      const x1 = Math.min(width, bx + cell);
      // Wholly off the piece, every pixel counts -1, under any floor (>= 0).
      if (!anyOn(onPiece, width, bx, x1, by, y1)) continue;
      for (let k = 0; k < K; k++) {
        const plane = planes[k]!;
        let best = -1;
        let bestAt = -1;
        // Row-major first maximum within the cell, as numpy's argmax over the cell's row-major pixels.
        for (let y = by; y < y1; y++) {
          const row = y * width;
          for (let i = row + bx, end = row + x1; i < end; i++) {
            if (onPiece[i] && plane[i]! > best) {
              best = plane[i]!;
              bestAt = i;
            }
          }
        }
        if (best >= floor) cellsByKind[k]!.push({ x: bestAt % width, y: Math.floor(bestAt / width), source: k, value: best });
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

function anyOn(onPiece: Uint8Array, width: number, x0: number, x1: number, y0: number, y1: number): boolean {
  for (let y = y0; y < y1; y++) {
    for (let i = y * width + x0, end = y * width + x1; i < end; i++) if (onPiece[i]) return true;
  }
  return false;
}
