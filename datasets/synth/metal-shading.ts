import type { Metal } from '../manifest.schema.js';
import type { Lighting } from './lighting.js';
import type { Rng } from './rng.js';
import { MAT_HOLE, MAT_METAL, MAT_PRONG, type Surface } from './surface.js';

/**
 * Linear-RGB reflectance at normal incidence (F0). Values follow measured spectral reflectance of the alloys:
 * 18k yellow warm, rose redder, rhodium-plated white gold cool and bright, 925 silver neutral and brightest,
 * Pt950 a darker neutral grey. Each image jitters them slightly (alloy and plating differences).
 */
const F0: Record<Metal, [number, number, number]> = {
  au750_yellow: [0.93, 0.72, 0.38],
  au750_rose: [0.93, 0.62, 0.5],
  au750_white: [0.76, 0.78, 0.8],
  ag925: [0.95, 0.93, 0.88],
  pt950: [0.66, 0.64, 0.6],
};

export interface MetalLook {
  f0: [number, number, number];
  /** Base roughness of the polished surface, radians. */
  roughness: number;
  /** Anisotropic spread across/along the lines of a brushed finish, radians. */
  brushAcross: number;
  brushAlong: number;
}

export function drawMetalLook(metal: Metal, rng: Rng): MetalLook {
  const base = F0[metal];
  const j = () => 1 + rng.range(-0.04, 0.04);
  return {
    f0: [base[0] * j(), base[1] * j(), base[2] * j()],
    roughness: rng.range(0.015, 0.09),
    brushAcross: rng.range(0.2, 0.55),
    brushAlong: rng.range(0.02, 0.06),
  };
}

/**
 * Shades every metal pixel by looking up a blurred environment in the mirror direction (orthographic camera, so
 * the view vector is +z): each lobe is a Gaussian in direction space widened by the surface roughness, and
 * anisotropically by a brushed finish. Returns premultiplied-by-coverage linear RGB for metal, leaving others.
 */
export function shadeMetal(s: Surface, light: Lighting, look: MetalLook, rgb: Float32Array, hazeTint: number): void {
  const { width: W, height: H } = s;
  const S = s.pxPerMm;
  const lx = light.key.dir[0];
  const ly = light.key.dir[1];
  const lz = light.key.dir[2];
  const [fr, fg, fb] = look.f0;
  const lut = buildEnvLut(light, look.roughness);
  // Haze scatters light diffusely: a milky, less saturated tone than the metal's own colour.
  const grey = (fr + fg + fb) / 3;
  const vr = hazeTint * (0.55 * fr + 0.45 * grey);
  const vg = hazeTint * (0.55 * fg + 0.45 * grey);
  const vb = hazeTint * (0.55 * fb + 0.45 * grey);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const m = s.mat[i];
      if (m === MAT_HOLE) {
        const o = 3 * i;
        const c = s.cov[i] > 0 ? 1 : 0;
        // Through the empty seat: the dark inside of the piece.
        rgb[o] = rgb[o] * (1 - c) + c * 0.012;
        rgb[o + 1] = rgb[o + 1] * (1 - c) + c * 0.011;
        rgb[o + 2] = rgb[o + 2] * (1 - c) + c * 0.01;
        continue;
      }
      if (m !== MAT_METAL && m !== MAT_PRONG) continue;
      // Height perturbation → normal perturbation (gradient in mm per mm).
      const xm = x > 0 ? i - 1 : i;
      const xp = x < W - 1 ? i + 1 : i;
      const ym = y > 0 ? i - W : i;
      const yp = y < H - 1 ? i + W : i;
      const gx = ((s.hp[xp] - s.hp[xm]) * S) / (xp - xm || 1);
      const gy = ((s.hp[yp] - s.hp[ym]) * S) / ((yp - ym) / W || 1);
      let nx = s.nx[i] - gx;
      let ny = s.ny[i] - gy;
      let nz = s.nz[i];
      const nl = Math.hypot(nx, ny, nz);
      nx /= nl;
      ny /= nl;
      nz /= nl;
      // Mirror direction of the view vector (0, 0, 1).
      const rx = 2 * nz * nx;
      const ry = 2 * nz * ny;
      const rz = 2 * nz * nz - 1;
      const br = s.brush[i];
      const extra = s.rough[i];
      const env = br > 0 || extra > 0 ? envDirect(light, rx, ry, rz, look.roughness + extra, br, s.brushAng[i], look) : lut.at(rx, ry, rz);
      const ndl = Math.max(0, nx * lx + ny * ly + nz * lz);
      // Schlick Fresnel: metals whiten towards grazing angles.
      const fres = Math.pow(1 - Math.max(0, nz), 5);
      const g = s.gain[i];
      const veil = s.veil[i];
      const e = env + light.diffuse * ndl;
      let r = (fr + (1 - fr) * fres) * e;
      let gg = (fg + (1 - fg) * fres) * e;
      let b = (fb + (1 - fb) * fres) * e;
      if (veil > 0) {
        r = r * (1 - veil) + veil * vr;
        gg = gg * (1 - veil) + veil * vg;
        b = b * (1 - veil) + veil * vb;
      }
      const c = s.cov[i];
      const o = 3 * i;
      rgb[o] = rgb[o] * (1 - c) + c * r * g;
      rgb[o + 1] = rgb[o + 1] * (1 - c) + c * gg * g;
      rgb[o + 2] = rgb[o + 2] * (1 - c) + c * b * g;
    }
  }
}

/**
 * The environment seen in direction r through a surface of roughness `rough` (radians), brushed with weight `br`
 * along `ang`: ambient sky/ground gradient, the camera's dark mirror image, and the lobes.
 */
function envDirect(light: Lighting, rx: number, ry: number, rz: number, rough: number, br: number, ang: number, look: MetalLook): number {
  const ca = Math.cos(ang);
  const sa = Math.sin(ang);
  const r2 = rough * rough;
  const cosLens = Math.cos(light.lensSize);
  let env = light.ambientLow + (light.ambientHigh - light.ambientLow) * Math.max(0, Math.min(1, (rz + 1) / 2));
  if (light.lensDark > 0 && rz > cosLens - 0.05) {
    const t = Math.min(1, (rz - (cosLens - 0.05)) / 0.05);
    env *= 1 - light.lensDark * t;
  }
  if (light.bandIntensity > 0) {
    const bw2 = light.bandWidth * light.bandWidth + r2;
    const dz = rz - light.bandZ;
    env += light.bandIntensity * (light.bandWidth / Math.sqrt(bw2)) * Math.exp((-0.5 * dz * dz) / bw2);
  }
  const lobes = light.lobes;
  for (let k = 0; k < lobes.length; k++) {
    const lobe = lobes[k];
    const dx = rx - lobe.dir[0];
    const dy = ry - lobe.dir[1];
    const dz = rz - lobe.dir[2];
    const s2 = lobe.size * lobe.size + r2;
    const dAlong = dx * ca + dy * sa;
    const dAcross = -dx * sa + dy * ca;
    const sAlong = s2 + br * look.brushAlong * look.brushAlong;
    const sAcross = s2 + br * look.brushAcross * look.brushAcross;
    const e = (dAlong * dAlong) / sAlong + (dAcross * dAcross) / sAcross + (dz * dz) / s2;
    if (e > 30) continue;
    const norm = (lobe.size * lobe.size) / Math.sqrt(sAlong * sAcross);
    env += lobe.intensity * norm * Math.exp(-0.5 * e);
  }
  return env;
}

/**
 * The isotropic environment tabulated over all directions (octahedral map), so plain polished pixels cost one
 * bilinear lookup instead of a sum of lobes; hazy and brushed pixels are evaluated directly.
 */
function buildEnvLut(light: Lighting, rough: number): { at: (x: number, y: number, z: number) => number } {
  const T = 256;
  const table = new Float32Array(T * T);
  for (let j = 0; j < T; j++) {
    for (let i = 0; i < T; i++) {
      const u = ((i + 0.5) / T) * 2 - 1;
      const v = ((j + 0.5) / T) * 2 - 1;
      let x = u;
      let y = v;
      const z = 1 - Math.abs(u) - Math.abs(v);
      if (z < 0) {
        x = (1 - Math.abs(v)) * Math.sign(u);
        y = (1 - Math.abs(u)) * Math.sign(v);
      }
      const l = Math.hypot(x, y, z);
      table[j * T + i] = envDirect(light, x / l, y / l, z / l, rough, 0, 0, NO_BRUSH);
    }
  }
  return {
    at(x: number, y: number, z: number): number {
      const a = Math.abs(x) + Math.abs(y) + Math.abs(z);
      let u = x / a;
      let v = y / a;
      if (z < 0) {
        const uu = (1 - Math.abs(v)) * (u >= 0 ? 1 : -1);
        v = (1 - Math.abs(u)) * (v >= 0 ? 1 : -1);
        u = uu;
      }
      const fx = Math.min(T - 1, Math.max(0, ((u + 1) / 2) * T - 0.5));
      const fy = Math.min(T - 1, Math.max(0, ((v + 1) / 2) * T - 0.5));
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const x1 = Math.min(T - 1, x0 + 1);
      const y1 = Math.min(T - 1, y0 + 1);
      const tx = fx - x0;
      const ty = fy - y0;
      const p = table[y0 * T + x0] * (1 - tx) + table[y0 * T + x1] * tx;
      const q = table[y1 * T + x0] * (1 - tx) + table[y1 * T + x1] * tx;
      return p * (1 - ty) + q * ty;
    },
  };
}

const NO_BRUSH: MetalLook = { f0: [0, 0, 0], roughness: 0, brushAcross: 0, brushAlong: 0 };
