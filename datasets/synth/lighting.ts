import type { Rng } from './rng.js';

/** A bright region of the environment seen in reflections: a softbox, a window, the lamp, a wall. */
export interface Lobe {
  dir: [number, number, number];
  /** Angular radius, radians. */
  size: number;
  intensity: number;
}

export interface Lighting {
  /** The key light, also used for the soft shadow, diffuse terms and the lit side of pit rims. */
  key: Lobe;
  lobes: Lobe[];
  ambientLow: number;
  ambientHigh: number;
  /** The camera and its dark hole, mirrored in flat polished metal facing the lens. */
  lensDark: number;
  lensSize: number;
  diffuse: number;
  /** A bright band around the horizon of the environment (light-tent walls, a window): the banding seen on
   * curved polished metal. `bandZ` is the z of the mirror direction where it peaks. */
  bandZ: number;
  bandWidth: number;
  bandIntensity: number;
  shadowStrength: number;
  shadowSoftMm: number;
  shadowOffsetMm: number;
}

function dirFrom(azimuth: number, elevation: number): [number, number, number] {
  const c = Math.cos(elevation);
  return [c * Math.cos(azimuth), c * Math.sin(azimuth), Math.sin(elevation)];
}

/** Light direction and size vary widely: ring lights, a single softbox, diffuse domes, a bare lamp. */
export function drawLighting(rng: Rng): Lighting {
  const style = rng.weighted([
    ['softbox', 0.35],
    ['dome', 0.2],
    ['two_lights', 0.3],
    ['spot', 0.15],
  ] as const);
  const az = rng.range(-Math.PI, Math.PI);
  const keySize = style === 'dome' ? rng.range(0.5, 0.9) : style === 'spot' ? rng.range(0.04, 0.12) : rng.range(0.15, 0.45);
  const key: Lobe = {
    dir: dirFrom(az, rng.range(0.35, 1.25)),
    size: keySize,
    intensity: style === 'spot' ? rng.range(2.5, 5) : rng.range(1.1, 2.2),
  };
  const lobes: Lobe[] = [key];
  if (style === 'two_lights') {
    lobes.push({ dir: dirFrom(az + Math.PI + rng.range(-0.8, 0.8), rng.range(0.3, 1.1)), size: rng.range(0.15, 0.4), intensity: rng.range(0.5, 1.4) });
  }
  // Dim room reflections: what makes polished metal look like metal rather than paint.
  const room = rng.int(2, 6);
  for (let k = 0; k < room; k++) {
    lobes.push({
      dir: dirFrom(rng.range(-Math.PI, Math.PI), rng.range(-0.2, 1.3)),
      size: rng.range(0.1, 0.6),
      intensity: rng.range(0.08, 0.5),
    });
  }
  return {
    key,
    lobes,
    ambientLow: rng.range(0.005, 0.08),
    ambientHigh: style === 'dome' ? rng.range(0.35, 0.7) : rng.range(0.1, 0.4),
    lensDark: rng.chance(0.35) ? rng.range(0.3, 0.9) : 0,
    lensSize: rng.range(0.06, 0.22),
    diffuse: rng.range(0.02, 0.12),
    bandZ: rng.range(-0.3, 0.7),
    bandWidth: rng.range(0.04, 0.25),
    bandIntensity: rng.chance(0.7) ? rng.range(0.2, 1.2) : 0,
    shadowStrength: style === 'dome' ? rng.range(0.1, 0.3) : rng.range(0.25, 0.6),
    shadowSoftMm: style === 'spot' ? rng.range(0.1, 0.4) : rng.range(0.5, 2.5),
    shadowOffsetMm: rng.range(0.2, 1.5),
  };
}
