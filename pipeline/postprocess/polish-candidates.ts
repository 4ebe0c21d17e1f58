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
  const cover = cellCover(onPiece, width, height, cell);
  const ncx = Math.ceil(width / cell);
  const ncy = Math.ceil(height / cell);
  // Each kind's plane is swept row by row, in memory order, each row's run of a cell folded into that cell's best
  // so far (five planes per pixel at once was the verifier's slowest step; cell by cell, 32 strided rows at a time,
  // the next slowest). Row-major with a strict ">" keeps a cell's first maximum, as numpy's argmax over the cell's
  // row-major pixels. A cell wholly on the piece needs no mask test; off the piece a pixel counts as -1, under any
  // floor (>= 0).
  const best = new Float64Array(ncx * ncy);
  const bestAt = new Int32Array(ncx * ncy);
  const cellsByKind: PolishCandidate[][] = planes.map((plane, k) => {
    best.fill(-1);
    bestAt.fill(-1);
    for (let y = 0; y < height; y++) {
      const rowCells = Math.floor(y / cell) * ncx;
      const row = y * width;
      for (let cx = 0; cx < ncx; cx++) {
        const c = rowCells + cx;
        const cov = cover[c]!;
        if (cov === NONE) continue;
        let b = best[c]!;
        let at = bestAt[c]!;
        const end = row + Math.min(width, (cx + 1) * cell);
        if (cov === ALL) {
          for (let i = row + cx * cell; i < end; i++) {
            const v = plane[i]!;
            if (v > b) {
              b = v;
              at = i;
            }
          }
        } else {
          for (let i = row + cx * cell; i < end; i++) {
            if (onPiece[i] && plane[i]! > b) {
              b = plane[i]!;
              at = i;
            }
          }
        }
        best[c] = b;
        bestAt[c] = at;
      }
    }
    const cells: PolishCandidate[] = [];
    for (let c = 0; c < best.length; c++) {
      const at = bestAt[c]!;
      if (cover[c] !== NONE && best[c]! >= floor) cells.push({ x: at % width, y: Math.floor(at / width), source: k, value: best[c]! });
    }
    return cells;
  });
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

const NONE = 0;
const ALL = 1;
const SOME = 2;

/** Per `cell` x `cell` cell, row-major: whether none, all or some of its pixels lie on the piece. */
function cellCover(onPiece: Uint8Array, width: number, height: number, cell: number): Uint8Array {
  const ncx = Math.ceil(width / cell);
  const ncy = Math.ceil(height / cell);
  const on = new Int32Array(ncx * ncy);
  for (let y = 0; y < height; y++) {
    const rowCells = Math.floor(y / cell) * ncx;
    const row = y * width;
    for (let cx = 0; cx < ncx; cx++) {
      let n = 0;
      for (let i = row + cx * cell, end = row + Math.min(width, (cx + 1) * cell); i < end; i++) n += onPiece[i]! ? 1 : 0;
      on[rowCells + cx] += n;
    }
  }
  const cover = new Uint8Array(ncx * ncy);
  for (let cy = 0; cy < ncy; cy++) {
    const h = Math.min(height, (cy + 1) * cell) - cy * cell;
    for (let cx = 0; cx < ncx; cx++) {
      const area = h * (Math.min(width, (cx + 1) * cell) - cx * cell);
      const n = on[cy * ncx + cx]!;
      cover[cy * ncx + cx] = n === 0 ? NONE : n === area ? ALL : SOME;
    }
  }
  return cover;
}
