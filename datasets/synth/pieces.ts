import type { Piece } from '../manifest.schema.js';
import type { View } from './options.schema.js';
import type { Rng } from './rng.js';
import { MAT_METAL, type Surface } from './surface.js';

/** Where stones can be set: a dense polyline in image pixels along the piece's centre line. */
export interface StonePath {
  /** x0, y0, x1, y1, ... dense enough (≤ 1 px apart) to walk by arc length. */
  points: Float64Array;
}

export type Finish = 'polished' | 'brushed' | 'brushed_centre' | 'brushed_edges';

export interface PieceResult {
  params: Record<string, number | string>;
  path: StonePath;
}

/**
 * Orthographic camera over a piece centred at (cx, cy) px, turned by `rot` in the image and tilted by `tilt` about
 * its own u axis. Object coordinates are mm: u along the piece, v across it, z up towards the camera for tilt 0.
 */
class Frame {
  readonly c: number;
  readonly s: number;
  readonly ct: number;
  readonly st: number;
  constructor(
    readonly cx: number,
    readonly cy: number,
    readonly rot: number,
    readonly tilt: number,
    readonly pxPerMm: number,
  ) {
    this.c = Math.cos(rot);
    this.s = Math.sin(rot);
    this.ct = Math.cos(tilt);
    this.st = Math.sin(tilt);
  }
  /** Image px → (u, w) mm, w being the projected (foreshortened) across-coordinate. */
  local(x: number, y: number, out: Float64Array): void {
    const dx = x - this.cx;
    const dy = y - this.cy;
    out[0] = (dx * this.c + dy * this.s) / this.pxPerMm;
    out[1] = (-dx * this.s + dy * this.c) / this.pxPerMm;
  }
  image(u: number, w: number, out: Float64Array): void {
    out[0] = this.cx + (u * this.c - w * this.s) * this.pxPerMm;
    out[1] = this.cy + (u * this.s + w * this.c) * this.pxPerMm;
  }
  /** Object normal → image normal: tilt about u, then the in-image rotation. Writes normalised nx, ny, nz. */
  normal(s: Surface, i: number, nu: number, nv: number, nz: number): void {
    const v2 = nv * this.ct - nz * this.st;
    const z2 = nv * this.st + nz * this.ct;
    const x = nu * this.c - v2 * this.s;
    const y = nu * this.s + v2 * this.c;
    const len = Math.hypot(x, y, z2) || 1;
    s.nx[i] = x / len;
    s.ny[i] = y / len;
    s.nz[i] = Math.max(0.02, z2 / len);
  }
  /** Direction (u, v) on the object → image angle. */
  angle(du: number, dv: number): number {
    const w = dv * this.ct;
    return Math.atan2(du * this.s + w * this.c, du * this.c - w * this.s);
  }
}

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

export function buildPiece(piece: Piece, view: View, surface: Surface, rng: Rng): PieceResult {
  const { width: W, height: H, pxPerMm } = surface;
  const tilt = view === 'oblique' ? (rng.range(8, 24) * Math.PI) / 180 : (rng.range(0, 2.5) * Math.PI) / 180;
  const rot = rng.chance(0.5) ? rng.range(-0.25, 0.25) + (rng.chance(0.5) ? Math.PI : 0) : rng.range(-Math.PI, Math.PI);
  const finish: Finish = rng.weighted([
    ['polished', 0.45],
    ['brushed', 0.2],
    ['brushed_centre', 0.2],
    ['brushed_edges', 0.15],
  ] as const);
  const common = { tiltDeg: round3((tilt * 180) / Math.PI), rotationDeg: round3((rot * 180) / Math.PI), finish };
  if (piece === 'ring_band') {
    const cx = W / 2 + rng.range(-0.08, 0.08) * W;
    const cy = H / 2 + rng.range(-0.08, 0.08) * H;
    return withCommon(common, ringBand(surface, new Frame(cx, cy, rot, tilt, pxPerMm), rng, finish));
  }
  if (piece === 'ring_shank') return withCommon(common, ringShank(surface, rot, tilt, rng, finish));
  const cx = W / 2 + rng.range(-0.06, 0.06) * W;
  const cy = H / 2 + rng.range(-0.06, 0.06) * H;
  return withCommon(common, pendant(surface, new Frame(cx, cy, rot, tilt, pxPerMm), rng, finish));
}

function withCommon(common: Record<string, number | string>, r: PieceResult): PieceResult {
  return { ...r, params: { ...common, ...r.params } };
}

function finishWeight(finish: Finish, across01: number): number {
  // across01: 0 at the centre line, 1 at the edge of the face.
  switch (finish) {
    case 'polished':
      return 0;
    case 'brushed':
      return 1;
    case 'brushed_centre':
      return clamp01((0.62 - across01) / 0.06);
    case 'brushed_edges':
      return clamp01((across01 - 0.55) / 0.06);
  }
}

/** A band standing upright seen from above: a cylinder falling away at both ends, a crowned top, bevelled edges. */
function ringBand(s: Surface, f: Frame, rng: Rng, finish: Finish): PieceResult {
  const R = rng.range(8, 11);
  const Wd = rng.range(2.2, 7.5);
  const T = rng.range(1.3, 2.4);
  const crown = rng.range(0, 0.35) * (Wd / 2);
  const bevel = rng.range(0.12, 0.4);
  const { width, height, pxPerMm: S } = s;
  const p = new Float64Array(2);
  const halfW = Wd / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      f.local(x, y, p);
      const u = p[0];
      const w = p[1];
      if (Math.abs(u) >= R + 1 / S) continue;
      const uc = Math.min(Math.abs(u), R);
      const zo = Math.sqrt(R * R - uc * uc) - R;
      const v = (w + zo * f.st) / f.ct;
      const sdTop = Math.max((Math.abs(v) - halfW) * f.ct * S, (Math.abs(u) - R) * S);
      const covTop = clamp01(0.5 - sdTop);
      if (covTop > 0) {
        const nzc = Math.sqrt(Math.max(0, 1 - (uc / R) ** 2));
        let nvv = (8 * crown * v) / (Wd * Wd);
        const inBevel = Math.abs(v) - (halfW - bevel);
        if (inBevel > 0) nvv += Math.sign(v) * 1.6 * (inBevel / bevel) ** 2;
        f.normal(s, i, u / R, nvv * nzc, nzc);
        s.mat[i] = MAT_METAL;
        s.cov[i] = covTop;
        s.face[i] = 1;
        s.brush[i] = finishWeight(finish, Math.abs(v) / halfW);
        s.brushAng[i] = f.angle(1, 0);
        continue;
      }
      if (f.st > 0.01 && v > 0) {
        // The visible side face: the annulus between the outer and inner circle of the band, seen edge-on.
        const z = -(w - halfW * f.ct) / f.st;
        const rho = Math.hypot(u, z + R);
        const sd = Math.max(rho - R, R - T - rho) * f.st * S;
        const cov = clamp01(0.5 - sd);
        if (cov > 0) {
          f.normal(s, i, 0, 1, 0.04);
          s.mat[i] = MAT_METAL;
          s.cov[i] = cov;
          s.face[i] = 2;
          s.brushAng[i] = f.angle(1, 0);
        }
      }
    }
  }
  // Stones along the crown's centre line, where the band faces the camera within ~35°.
  const vRow = rng.chance(0.8) ? 0 : rng.range(-0.15, 0.15) * Wd;
  const points: number[] = [];
  const uMax = 0.58 * R;
  const step = 0.5 / S;
  for (let u = -uMax; u <= uMax; u += step) {
    const zo = Math.sqrt(R * R - u * u) - R;
    f.image(u, vRow * f.ct - zo * f.st, p);
    points.push(p[0], p[1]);
  }
  return {
    params: { radiusMm: round3(R), widthMm: round3(Wd), thicknessMm: round3(T), crownMm: round3(crown) },
    path: { points: Float64Array.from(points) },
  };
}

/** A ring lying flat seen from above: an annulus with a domed cross-section; oblique views show its walls. */
function ringShank(s: Surface, rot: number, tilt: number, rng: Rng, finish: Finish): PieceResult {
  const { width, height, pxPerMm: S } = s;
  const Rm = rng.range(8.2, 10);
  const wd = rng.range(1.6, 3.6);
  const Th = rng.range(1.4, 2.4);
  const k = rng.range(0.5, 1.4);
  const Ro = Rm + wd / 2;
  const Ri = Rm - wd / 2;
  // Put the top of the arc (v = -Rm) near the image centre, the rest of the ring running off or around.
  const off = Rm * Math.cos(tilt) * S + rng.range(-0.12, 0.12) * height;
  const cx = width / 2 + rng.range(-0.1, 0.1) * width - Math.sin(rot) * off;
  const cy = height / 2 + rng.range(-0.1, 0.1) * height + Math.cos(rot) * off;
  const f = new Frame(cx, cy, rot, tilt, S);
  const p = new Float64Array(2);
  const wallDepth = Th * f.st;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      f.local(x, y, p);
      const u = p[0];
      const w = p[1];
      const v0 = w / f.ct;
      const rho = Math.hypot(u, v0);
      if (rho > Ro + 2 + wallDepth * 2) continue;
      const d = (rho - Rm) / (wd / 2);
      const sdTop = (Math.abs(rho - Rm) - wd / 2) * S * Math.min(1, f.ct + 0.2);
      const covTop = clamp01(0.5 - sdTop);
      if (covTop > 0) {
        const dc = Math.max(-1, Math.min(1, d));
        const slope = (k * dc) / Math.sqrt(1 - 0.85 * dc * dc);
        const ex = u / (rho || 1);
        const ev = v0 / (rho || 1);
        f.normal(s, i, ex * slope, ev * slope, 1);
        s.mat[i] = MAT_METAL;
        s.cov[i] = covTop;
        s.face[i] = 1;
        s.brush[i] = finishWeight(finish, Math.abs(dc));
        s.brushAng[i] = f.angle(-ev, ex);
        continue;
      }
      if (wallDepth <= 0.01) continue;
      const v1 = (w - wallDepth) / f.ct;
      if (rho > Ro && Math.abs(u) < Ro) {
        const vo = Math.sqrt(Ro * Ro - u * u);
        if (v0 > 0 && v1 <= vo) {
          const cov = clamp01(0.5 + (vo - v1) * f.ct * S);
          f.normal(s, i, u / Ro, vo / Ro, 0.05);
          s.mat[i] = MAT_METAL;
          s.cov[i] = cov;
          s.face[i] = 2;
          s.brushAng[i] = f.angle(1, 0);
        }
      } else if (rho < Ri && Math.abs(u) < Ri) {
        const vc = -Math.sqrt(Ri * Ri - u * u);
        if (v1 <= vc) {
          const cov = clamp01(0.5 + (vc - v1) * f.ct * S);
          f.normal(s, i, -u / Ri, -vc / Ri, 0.05);
          s.mat[i] = MAT_METAL;
          s.cov[i] = cov;
          s.face[i] = 2;
          s.brushAng[i] = f.angle(1, 0);
        }
      }
    }
  }
  const span = rng.range(0.35, 0.7);
  const points: number[] = [];
  const step = 0.5 / S / Rm;
  for (let a = -Math.PI / 2 - span; a <= -Math.PI / 2 + span; a += step) {
    f.image(Rm * Math.cos(a), Rm * Math.sin(a) * f.ct, p);
    points.push(p[0], p[1]);
  }
  return {
    params: { radiusMm: round3(Rm), widthMm: round3(wd), thicknessMm: round3(Th), domeSlope: round3(k) },
    path: { points: Float64Array.from(points) },
  };
}

/** A pendant face: a domed superellipse (oval to cushion) with a bevelled rim, a bail, and walls when oblique. */
function pendant(s: Surface, f: Frame, rng: Rng, finish: Finish): PieceResult {
  const { width, height, pxPerMm: S } = s;
  const a = rng.range(3.5, 9);
  const b = a * rng.range(0.7, 1.4);
  const pw = rng.range(2, 5);
  const dome = rng.range(0.1, 1.2);
  const m = rng.int(2, 6);
  const Th = rng.range(0.9, 2);
  const bailR = rng.range(0.8, 1.5);
  const bailW = rng.range(0.45, 0.8);
  const hasBail = rng.chance(0.7);
  const minAB = Math.min(a, b);
  const p = new Float64Array(2);
  const q = (u: number, v: number) => Math.pow(Math.pow(Math.abs(u / a), pw) + Math.pow(Math.abs(v / b), pw), 1 / pw);
  const wallDepth = Th * f.st;
  const bailCv = -b - bailR * 0.55;
  // Only the piece's bounding box needs visiting: the superellipse is costly per pixel.
  let bx0 = Infinity;
  let by0 = Infinity;
  let bx1 = -Infinity;
  let by1 = -Infinity;
  for (const cu of [-a - 0.3, a + 0.3]) {
    for (const cv of [bailCv - bailR - bailW, b + Th + 0.3]) {
      f.image(cu, cv * f.ct, p);
      bx0 = Math.min(bx0, p[0]);
      by0 = Math.min(by0, p[1]);
      bx1 = Math.max(bx1, p[0]);
      by1 = Math.max(by1, p[1]);
    }
  }
  const ys = Math.max(0, Math.floor(by0));
  const ye = Math.min(height - 1, Math.ceil(by1));
  const xs = Math.max(0, Math.floor(bx0));
  const xe = Math.min(width - 1, Math.ceil(bx1));
  for (let y = ys; y <= ye; y++) {
    for (let x = xs; x <= xe; x++) {
      const i = y * width + x;
      f.local(x, y, p);
      const u = p[0];
      const w = p[1];
      const v = w / f.ct;
      // |u/a|^p and |v/b|^p once: q and its gradient follow without further powers (pow dominates this loop).
      const A = u === 0 ? 0 : Math.exp(pw * Math.log(Math.abs(u / a)));
      const B = v === 0 ? 0 : Math.exp(pw * Math.log(Math.abs(v / b)));
      const AB = A + B;
      const qq = AB > 0 ? Math.exp(Math.log(AB) / pw) : 0;
      // Distance to the outline is roughly (q - 1) times the local radius; min(a, b) keeps it conservative.
      const sd = (qq - 1) * minAB * S * Math.min(1, f.ct + 0.15);
      const cov = clamp01(0.5 - sd);
      if (cov > 0) {
        const qs = Math.max(qq, 1e-6);
        // dq/du = q^(1-p) |u/a|^(p-1) sign(u)/a = q A / ((A+B) u), likewise for v.
        const dqdu = AB > 0 && u !== 0 ? (qs * A) / (AB * u) : 0;
        const dqdv = AB > 0 && v !== 0 ? (qs * B) / (AB * v) : 0;
        const qc = Math.min(qs, 1);
        let qm = 1;
        for (let k = 1; k < m; k++) qm *= qc;
        let dhdq = -dome * m * qm;
        const rimStart = 1 - 0.45 / minAB;
        if (qc > rimStart) dhdq -= 2.5 * minAB * ((qc - rimStart) / (1 - rimStart)) ** 2;
        f.normal(s, i, -dhdq * dqdu, -dhdq * dqdv, 1);
        s.mat[i] = MAT_METAL;
        s.cov[i] = cov;
        s.face[i] = 1;
        s.brush[i] = finishWeight(finish, qc);
        s.brushAng[i] = f.angle(1, 0);
        continue;
      }
      if (wallDepth > 0.01 && v > 0) {
        const v1 = (w - wallDepth) / f.ct;
        const q1 = q(u, v1);
        if (q1 <= 1 + 0.5 / (minAB * S)) {
          const cov1 = clamp01(0.5 + (1 - q1) * minAB * S * f.ct);
          const au = Math.abs(u / a);
          const av = Math.abs(v / b);
          const gu = (Math.pow(au, pw - 1) * Math.sign(u)) / a;
          const gv = (Math.pow(av, pw - 1) * Math.sign(v)) / b;
          const gl = Math.hypot(gu, gv) || 1;
          f.normal(s, i, gu / gl, gv / gl, 0.05);
          s.mat[i] = MAT_METAL;
          s.cov[i] = cov1;
          s.face[i] = 2;
          s.brushAng[i] = f.angle(1, 0);
          continue;
        }
      }
      if (hasBail) {
        const bv = v - bailCv;
        const rb = Math.hypot(u, bv);
        const d = (rb - bailR) / (bailW / 2);
        const covB = clamp01(0.5 - (Math.abs(rb - bailR) - bailW / 2) * S * f.ct);
        if (covB > 0 && s.mat[i] === 0) {
          const dc = Math.max(-1, Math.min(1, d));
          const slope = (1.2 * dc) / Math.sqrt(1 - 0.9 * dc * dc);
          f.normal(s, i, (u / (rb || 1)) * slope, (bv / (rb || 1)) * slope, 1);
          s.mat[i] = MAT_METAL;
          s.cov[i] = covB;
          s.face[i] = 3;
          s.brushAng[i] = f.angle(1, 0);
        }
      }
    }
  }
  const points: number[] = [];
  const arc = rng.chance(0.45);
  const step = 0.5 / S;
  if (arc) {
    // A row following the rim at a constant inset.
    const ra = minAB * rng.range(0.55, 0.72);
    const span = rng.range(0.6, 1.3);
    const mid = rng.chance(0.5) ? Math.PI / 2 : -Math.PI / 2;
    for (let t = mid - span; t <= mid + span; t += step / ra) {
      f.image(ra * Math.cos(t) * (a / minAB) * 0.92, ra * Math.sin(t) * (b / minAB) * 0.92 * f.ct, p);
      points.push(p[0], p[1]);
    }
  } else {
    const vRow = rng.range(-0.3, 0.3) * b;
    const uMax = a * Math.pow(Math.max(0.05, 1 - Math.pow(Math.abs(vRow / b), pw)), 1 / pw) * 0.8;
    for (let u = -uMax; u <= uMax; u += step) {
      f.image(u, vRow * f.ct, p);
      points.push(p[0], p[1]);
    }
  }
  void width;
  return {
    params: {
      halfWidthMm: round3(a),
      halfHeightMm: round3(b),
      superellipse: round3(pw),
      domeMm: round3(dome),
      thicknessMm: round3(Th),
      bail: hasBail ? 'yes' : 'no',
      row: arc ? 'arc' : 'line',
    },
    path: { points: Float64Array.from(points) },
  };
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
