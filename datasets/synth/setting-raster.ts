import type { Rng } from './rng.js';
import type { RowLayout } from './stone-row.js';
import { MAT_HOLE, MAT_METAL, MAT_PRONG, MAT_STONE, type Surface } from './surface.js';

export interface Prong {
  x: number;
  y: number;
  /** Radii along and across the row, px. */
  ra: number;
  rc: number;
  tx: number;
  ty: number;
}

/**
 * Writes the metal work of a stone row into the surface: the channel groove and its lips, seat cuts, empty seats
 * (cone and through-hole), prongs/beads over the stones' edges, and protection so no defect lands on any of it.
 */
export function rasterizeSetting(s: Surface, row: RowLayout, rng: Rng, omitStones: boolean): { prongs: Prong[]; params: Record<string, number> } {
  const { width: W } = s;
  const S = s.pxPerMm;
  const rN = row.nominalR;
  const seats = row.seats;
  const grooveGain = rng.range(0.18, 0.5);
  const lipPx = Math.max(1.5, rng.range(0.05, 0.12) * S);
  const railPx = rng.range(0.2, 0.4) * S;

  if (row.setting === 'channel') {
    // Distance to the chain of seat centres, extended by one radius at both ends.
    const n = seats.length;
    const pts: Array<[number, number]> = [];
    pts.push([seats[0].cx - seats[0].tx * rN, seats[0].cy - seats[0].ty * rN]);
    for (const st of seats) pts.push([st.cx, st.cy]);
    pts.push([seats[n - 1].cx + seats[n - 1].tx * rN, seats[n - 1].cy + seats[n - 1].ty * rN]);
    const reach = rN * 1.04 + railPx + 2;
    for (let k = 0; k + 1 < pts.length; k++) {
      const [ax, ay] = pts[k];
      const [bx, by] = pts[k + 1];
      const len = Math.hypot(bx - ax, by - ay) || 1;
      const ux = (bx - ax) / len;
      const uy = (by - ay) / len;
      const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach));
      const x1 = Math.min(W - 1, Math.ceil(Math.max(ax, bx) + reach));
      const y0 = Math.max(0, Math.floor(Math.min(ay, by) - reach));
      const y1 = Math.min(s.height - 1, Math.ceil(Math.max(ay, by) + reach));
      for (let y = y0; y <= y1; y++) {
        for (let x = x0; x <= x1; x++) {
          const along = (x - ax) * ux + (y - ay) * uy;
          if (along < -0.5 || along > len + 0.5) continue;
          const lat = -(x - ax) * uy + (y - ay) * ux;
          const d = Math.abs(lat);
          const i = y * W + x;
          if (s.mat[i] !== MAT_METAL || d > reach) continue;
          s.protect[i] = 1;
          const edge = rN * 1.04;
          if (d < edge) {
            s.gain[i] = Math.min(s.gain[i], grooveGain);
          } else if (d < edge + lipPx) {
            // The lip tilts towards the groove: a thin line that catches or loses the light.
            const t = (d - edge) / lipPx;
            const sgn = lat > 0 ? 1 : -1;
            const slope = 1.2 * (1 - t);
            s.nx[i] = s.nx[i] - sgn * -uy * slope;
            s.ny[i] = s.ny[i] - sgn * ux * slope;
            normalise(s, i);
          }
        }
      }
    }
  }

  for (const seat of seats) {
    const R = seat.seatR * 1.1 + 3;
    const x0 = Math.max(0, Math.floor(seat.cx - R));
    const x1 = Math.min(W - 1, Math.ceil(seat.cx + R));
    const y0 = Math.max(0, Math.floor(seat.cy - R));
    const y1 = Math.min(s.height - 1, Math.ceil(seat.cy + R));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const i = y * W + x;
        const dx = x - seat.cx;
        const dy = y - seat.cy;
        const rho = Math.hypot(dx, dy);
        if (rho > R) continue;
        s.protect[i] = 1;
        if (seat.stoneR === null) {
          if (rho < seat.seatR * 0.42) {
            s.mat[i] = MAT_HOLE;
          } else if (rho < seat.seatR) {
            // The seat's cone: metal facing the centre.
            s.mat[i] = MAT_METAL;
            s.nx[i] = (-dx / rho) * 0.75;
            s.ny[i] = (-dy / rho) * 0.75;
            s.nz[i] = 0.66;
            s.gain[i] = Math.min(s.gain[i], 0.75);
          } else if (rho < seat.seatR * 1.06) {
            s.gain[i] = Math.min(s.gain[i], 0.5);
          }
        } else if (rho < seat.stoneR && !omitStones) {
          s.mat[i] = MAT_STONE;
        } else if (rho < seat.seatR * 1.07) {
          // The seat cut around the girdle is in shadow.
          s.gain[i] = Math.min(s.gain[i], grooveGain + 0.15);
        }
      }
    }
  }

  const prongs: Prong[] = [];
  if (row.setting !== 'channel') {
    const rb = rN * rng.range(0.22, 0.34);
    const elong = row.setting === 'eternity' ? rng.range(1.0, 1.5) : 1;
    const offset = rN * rng.range(0.72, 0.9);
    const add = (x: number, y: number, tx: number, ty: number) => prongs.push({ x, y, ra: rb, rc: rb * elong, tx, ty });
    for (let j = 0; j <= seats.length; j++) {
      const a = seats[Math.max(0, j - 1)];
      const b = seats[Math.min(seats.length - 1, j)];
      let mx: number;
      let my: number;
      if (j === 0) {
        mx = a.cx - a.tx * (a.seatR + rb * 0.3);
        my = a.cy - a.ty * (a.seatR + rb * 0.3);
      } else if (j === seats.length) {
        mx = b.cx + b.tx * (b.seatR + rb * 0.3);
        my = b.cy + b.ty * (b.seatR + rb * 0.3);
      } else {
        // Between two seats, on the chord, where the gap is: the prong is shared.
        const d = Math.hypot(b.cx - a.cx, b.cy - a.cy) || 1;
        const f = (a.seatR + (d - a.seatR - b.seatR) / 2) / d;
        mx = a.cx + (b.cx - a.cx) * f;
        my = a.cy + (b.cy - a.cy) * f;
      }
      const tx = (a.tx + b.tx) / 2;
      const ty = (a.ty + b.ty) / 2;
      add(mx - ty * offset, my + tx * offset, tx, ty);
      add(mx + ty * offset, my - tx * offset, tx, ty);
    }
    for (const p of prongs) drawProng(s, p);
  }
  return { prongs, params: { grooveGain: Math.round(grooveGain * 1000) / 1000 } };
}

function drawProng(s: Surface, p: Prong): void {
  const R = Math.max(p.ra, p.rc) + 2;
  const x0 = Math.max(0, Math.floor(p.x - R));
  const x1 = Math.min(s.width - 1, Math.ceil(p.x + R));
  const y0 = Math.max(0, Math.floor(p.y - R));
  const y1 = Math.min(s.height - 1, Math.ceil(p.y + R));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x - p.x;
      const dy = y - p.y;
      const a = (dx * p.tx + dy * p.ty) / p.ra;
      const c = (-dx * p.ty + dy * p.tx) / p.rc;
      const q = a * a + c * c;
      const i = y * s.width + x;
      s.protect[i] = 1;
      if (q >= 1) continue;
      const nz = Math.sqrt(1 - q);
      // Sphere normal, in image axes.
      const na = a;
      const nc = c;
      s.nx[i] = na * p.tx - nc * p.ty;
      s.ny[i] = na * p.ty + nc * p.tx;
      s.nz[i] = Math.max(0.05, nz);
      normalise(s, i);
      s.mat[i] = MAT_PRONG;
      s.gain[i] = 1;
      s.cov[i] = 1;
    }
  }
}

function normalise(s: Surface, i: number): void {
  const l = Math.hypot(s.nx[i], s.ny[i], s.nz[i]) || 1;
  s.nx[i] /= l;
  s.ny[i] /= l;
  s.nz[i] /= l;
}
