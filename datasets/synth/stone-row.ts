import type { Defect, SpacingKind, Stone, StoneRow } from '../manifest.schema.js';
import type { Setting } from './options.schema.js';
import type { StonePath } from './pieces.js';
import type { Rng } from './rng.js';
import type { Surface } from './surface.js';

/** One place in the row. `stoneR` null: an empty seat (missing stone). */
export interface Seat {
  cx: number;
  cy: number;
  seatR: number;
  stoneR: number | null;
  /** Unit tangent of the row at this seat, image px. */
  tx: number;
  ty: number;
}

export interface RowLayout {
  setting: Setting;
  seats: Seat[];
  nominalR: number;
  nominalGapMm: number;
  stones: Stone[];
  stoneRow: StoneRow;
  defects: Defect[];
  params: Record<string, number | string>;
}

/** Nominal stone diameters and gaps per setting style, in mm (typical bench values). */
const STYLE: Record<Setting, { diam: [number, number]; gap: [number, number] }> = {
  channel: { diam: [1.2, 3.0], gap: [0.04, 0.16] },
  pave: { diam: [0.8, 1.7], gap: [0.1, 0.3] },
  eternity: { diam: [1.4, 3.0], gap: [0.12, 0.4] },
};
/** A clean row's gaps stay within ±0.02 mm of nominal: jitter is drawn inside ±0.012 mm to leave room for rounding. */
const CLEAN_JITTER_MM = 0.012;
const MAX_SEATS = 16;

class PathWalker {
  private readonly cum: Float64Array;
  readonly length: number;
  constructor(private readonly pts: Float64Array) {
    const n = pts.length / 2;
    this.cum = new Float64Array(n);
    for (let i = 1; i < n; i++) {
      this.cum[i] = this.cum[i - 1] + Math.hypot(pts[2 * i] - pts[2 * i - 2], pts[2 * i + 1] - pts[2 * i - 1]);
    }
    this.length = n > 0 ? this.cum[n - 1] : 0;
  }
  at(s: number): [number, number, number, number] {
    const n = this.cum.length;
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (this.cum[mid] <= s) lo = mid;
      else hi = mid;
    }
    const seg = this.cum[hi] - this.cum[lo] || 1;
    const t = Math.max(0, Math.min(1, (s - this.cum[lo]) / seg));
    const x0 = this.pts[2 * lo];
    const y0 = this.pts[2 * lo + 1];
    const x1 = this.pts[2 * hi];
    const y1 = this.pts[2 * hi + 1];
    const len = Math.hypot(x1 - x0, y1 - y0) || 1;
    return [x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, (x1 - x0) / len, (y1 - y0) / len];
  }
  /** Arc position after `from` whose point lies at chord distance `d` from (px, py). */
  next(from: number, px: number, py: number, d: number): number | null {
    let lo = from;
    let hi = from + d * 1.6 + 2;
    if (hi > this.length) {
      const [x, y] = this.at(this.length);
      if (Math.hypot(x - px, y - py) < d) return null;
      hi = this.length;
    }
    for (let k = 0; k < 50; k++) {
      const mid = (lo + hi) / 2;
      const [x, y] = this.at(mid);
      if (Math.hypot(x - px, y - py) < d) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  }
}

interface Placed {
  arc: number;
  x: number;
  y: number;
  tx: number;
  ty: number;
}

function placeSeats(walker: PathWalker, start: number, radii: number[], gapsPx: number[]): Placed[] {
  const out: Placed[] = [];
  let [x, y, tx, ty] = walker.at(start);
  out.push({ arc: start, x, y, tx, ty });
  let arc = start;
  for (let i = 1; i < radii.length; i++) {
    const next = walker.next(arc, x, y, radii[i - 1] + radii[i] + gapsPx[i - 1]);
    if (next === null) break;
    arc = next;
    [x, y, tx, ty] = walker.at(arc);
    out.push({ arc, x, y, tx, ty });
  }
  return out;
}

/** A seat is usable when its whole circle (plus the setting's metal around it) lies on the top face inside the frame. */
function seatFits(s: Surface, x: number, y: number, r: number, marginPx: number): boolean {
  if (x - r - marginPx < 0 || y - r - marginPx < 0 || x + r + marginPx >= s.width || y + r + marginPx >= s.height) return false;
  const rr = r * 1.12 + 1;
  for (let k = 0; k < 24; k++) {
    const a = (k / 24) * 2 * Math.PI;
    const px = Math.round(x + rr * Math.cos(a));
    const py = Math.round(y + rr * Math.sin(a));
    const i = py * s.width + px;
    if (s.face[i] !== 1 || s.cov[i] < 0.999) return false;
  }
  return s.face[Math.round(y) * s.width + Math.round(x)] === 1;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

export function gapsFromStones(stones: ReadonlyArray<{ cx: number; cy: number; r: number }>, mmPerPx: number): number[] {
  const gaps: number[] = [];
  for (let i = 0; i + 1 < stones.length; i++) {
    const a = stones[i];
    const b = stones[i + 1];
    gaps.push((Math.hypot(b.cx - a.cx, b.cy - a.cy) - a.r - b.r) * mmPerPx);
  }
  return gaps;
}

export function layoutRow(
  s: Surface,
  path: StonePath,
  setting: Setting,
  kinds: readonly SpacingKind[],
  mmPerPx: number,
  rng: Rng,
): RowLayout | null {
  const S = 1 / mmPerPx;
  const style = STYLE[setting];
  const walker = new PathWalker(path.points);
  let diam = rng.range(style.diam[0], style.diam[1]);
  let nominalGapMm = rng.range(style.gap[0], style.gap[1]);
  if (kinds.includes('gap_narrow')) nominalGapMm = Math.max(nominalGapMm, rng.range(0.12, 0.32));
  nominalGapMm = Math.round(nominalGapMm * 1000) / 1000;
  const margin = setting === 'channel' ? 0.35 * S : 0.12 * S;

  for (let attempt = 0; attempt < 6; attempt++, diam *= 0.78) {
    const rN = Math.max(5, (diam / 2) * S);
    // Pass 1: how many seats fit at nominal spacing, and where the longest fitting stretch starts.
    const probeR = Array.from({ length: 200 }, () => rN);
    const probeGap = Array.from({ length: 199 }, () => nominalGapMm * S);
    const probe = placeSeats(walker, 0, probeR, probeGap);
    let bestStart = -1;
    let bestLen = 0;
    for (let i = 0, run = 0; i < probe.length; i++) {
      run = seatFits(s, probe[i].x, probe[i].y, rN, margin) ? run + 1 : 0;
      if (run > bestLen) {
        bestLen = run;
        bestStart = i - run + 1;
      }
    }
    const minSeats = kinds.length > 0 ? 4 : 3;
    if (bestLen < minSeats) continue;
    for (let n = Math.min(bestLen, MAX_SEATS); n >= minSeats; n--) {
      const startArc = probe[bestStart + Math.floor((bestLen - n) / 2)].arc;
      const row = tryRow(s, walker, startArc, n, rN, nominalGapMm, setting, kinds, mmPerPx, margin, rng);
      if (row) return { ...row, params: { ...row.params, nominalDiameterMm: Math.round(((2 * rN) / S) * 1000) / 1000 } };
    }
  }
  return null;
}

function tryRow(
  s: Surface,
  walker: PathWalker,
  startArc: number,
  n: number,
  rN: number,
  nominalGapMm: number,
  setting: Setting,
  kinds: readonly SpacingKind[],
  mmPerPx: number,
  margin: number,
  rng: Rng,
): Omit<RowLayout, 'params'> & { params: Record<string, number | string> } | null {
  const S = 1 / mmPerPx;
  const seatR = Array.from({ length: n }, () => rN * (1 + rng.range(-0.012, 0.012)));
  const stoneR: Array<number | null> = seatR.map((r) => r);
  const gapMm = Array.from({ length: n - 1 }, () => nominalGapMm + rng.range(-CLEAN_JITTER_MM, CLEAN_JITTER_MM));
  const busySeat = new Set<number>();
  const planned: Array<{ kind: SpacingKind; seat?: number; gap?: number }> = [];

  const freeInterior = () => {
    const c: number[] = [];
    for (let j = 1; j < n - 1; j++) if (!busySeat.has(j) && !busySeat.has(j - 1) && !busySeat.has(j + 1)) c.push(j);
    return c;
  };
  for (const kind of kinds) {
    if (kind === 'missing_stone' || kind === 'undersized_stone') {
      const c = freeInterior();
      if (c.length === 0) return null;
      const j = rng.pick(c);
      busySeat.add(j);
      if (kind === 'missing_stone') stoneR[j] = null;
      else {
        const deficitMm = Math.min(rng.range(0.12, 0.45), 0.35 * ((2 * seatR[j]) / S));
        stoneR[j] = seatR[j] - (deficitMm * S) / 2;
      }
      planned.push({ kind, seat: j });
    }
  }
  for (const kind of kinds) {
    if (kind !== 'gap_wide' && kind !== 'gap_narrow') continue;
    const count = rng.chance(0.25) ? 2 : 1;
    for (let k = 0; k < count; k++) {
      const c: number[] = [];
      for (let g = 0; g < n - 1; g++) if (!busySeat.has(g) && !busySeat.has(g + 1)) c.push(g);
      if (c.length === 0) {
        if (k === 0) return null;
        break;
      }
      const g = rng.pick(c);
      busySeat.add(g);
      busySeat.add(g + 1);
      const maxNarrow = Math.min(0.4, nominalGapMm - 0.03);
      if (kind === 'gap_narrow' && maxNarrow < 0.08) return null;
      const delta = kind === 'gap_wide' ? rng.range(0.08, 0.4) : -rng.range(0.08, maxNarrow);
      gapMm[g] = nominalGapMm + delta;
      planned.push({ kind, gap: g });
    }
  }
  const placed = placeSeats(walker, startArc, seatR, gapMm.map((g) => g * S));
  if (placed.length < n) return null;
  for (let j = 0; j < n; j++) if (!seatFits(s, placed[j].x, placed[j].y, seatR[j], margin)) return null;

  const seats: Seat[] = placed.map((p, j) => ({ cx: p.x, cy: p.y, seatR: seatR[j], stoneR: stoneR[j], tx: p.tx, ty: p.ty }));
  const stoneIdx: number[] = [];
  const stones: Stone[] = [];
  const missing: Array<{ cx: number; cy: number }> = [];
  for (let j = 0; j < n; j++) {
    const r = stoneR[j];
    if (r === null) {
      stoneIdx.push(-1);
      missing.push({ cx: r2(seats[j].cx), cy: r2(seats[j].cy) });
    } else {
      stoneIdx.push(stones.length);
      stones.push({ cx: r2(seats[j].cx), cy: r2(seats[j].cy), r: r2(r) });
    }
  }
  const gapsMm = gapsFromStones(stones, mmPerPx);
  const defects: Defect[] = [];
  for (const p of planned) {
    if (p.kind === 'gap_wide' || p.kind === 'gap_narrow') {
      const g = p.gap!;
      const gi = stoneIdx[g];
      const a = stones[gi];
      const b = stones[gi + 1];
      defects.push({
        family: 'stone_spacing',
        kind: p.kind,
        bbox: gapBox(a, b, s),
        sizeMm: round4(Math.abs(gapsMm[gi] - nominalGapMm)),
        gapIndex: gi,
        stoneIndex: gi,
      });
    } else if (p.kind === 'missing_stone') {
      const j = p.seat!;
      const seat = seats[j];
      defects.push({
        family: 'stone_spacing',
        kind: 'missing_stone',
        bbox: circleBox(seat.cx, seat.cy, seat.seatR, s),
        sizeMm: round4(2 * seat.seatR * mmPerPx),
        gapIndex: stoneIdx[j - 1],
        missingIndex: missing.findIndex((m) => m.cx === r2(seat.cx) && m.cy === r2(seat.cy)),
      });
    } else {
      const j = p.seat!;
      const st = stones[stoneIdx[j]];
      defects.push({
        family: 'stone_spacing',
        kind: 'undersized_stone',
        bbox: circleBox(st.cx, st.cy, st.r, s),
        sizeMm: round4(2 * (seats[j].seatR - st.r) * mmPerPx),
        stoneIndex: stoneIdx[j],
      });
    }
  }
  return {
    setting,
    seats,
    nominalR: rN,
    nominalGapMm,
    stones,
    stoneRow: { expectedCount: n, nominalGapMm, gapsMm, missing },
    defects,
    params: { setting, seats: n },
  };
}

const round4 = (x: number) => Math.round(x * 10000) / 10000;

function circleBox(cx: number, cy: number, r: number, s: Surface): [number, number, number, number] {
  return clampBox(Math.floor(cx - r), Math.floor(cy - r), Math.ceil(cx + r) + 1, Math.ceil(cy + r) + 1, s);
}

/** The box between two stones' facing girdle points, widened by half the smaller radius across the row. */
function gapBox(a: Stone, b: Stone, s: Surface): [number, number, number, number] {
  const d = Math.hypot(b.cx - a.cx, b.cy - a.cy) || 1;
  const ux = (b.cx - a.cx) / d;
  const uy = (b.cy - a.cy) / d;
  const ax = a.cx + ux * a.r;
  const ay = a.cy + uy * a.r;
  const bx = b.cx - ux * b.r;
  const by = b.cy - uy * b.r;
  const pad = 0.5 * Math.min(a.r, b.r);
  return clampBox(
    Math.floor(Math.min(ax, bx) - pad),
    Math.floor(Math.min(ay, by) - pad),
    Math.ceil(Math.max(ax, bx) + pad) + 1,
    Math.ceil(Math.max(ay, by) + pad) + 1,
    s,
  );
}

function clampBox(x0: number, y0: number, x1: number, y1: number, s: Surface): [number, number, number, number] {
  return [Math.max(0, x0), Math.max(0, y0), Math.min(s.width, x1), Math.min(s.height, y1)];
}
