import sharp from 'sharp';
import type { Defect, ManifestEntry } from '../manifest.schema.js';
import { paintBackground } from './background.js';
import { develop, drawCamera } from './camera.js';
import { addPolish } from './defects/polish.js';
import { addPorosity } from './defects/porosity.js';
import { bboxOf, equivalentDiameterPx, largestExtentPx, type PixelDefect } from './defects/pixel-defect.js';
import { sprinkleDust } from './distractors.js';
import { brushTexture } from './finish.js';
import { drawLighting } from './lighting.js';
import { stampHallmark } from './marks.js';
import { drawMetalLook, shadeMetal } from './metal-shading.js';
import { RenderOptionsSchema, type RenderOptionsInput } from './options.schema.js';
import { buildPiece, round3, type PieceResult } from './pieces.js';
import { planImage, type ImagePlan } from './plan.js';
import { Rng, hash32 } from './rng.js';
import { rasterizeSetting } from './setting-raster.js';
import { layoutRow, type RowLayout } from './stone-row.js';
import { paintSparkles, paintStones } from './stones.js';
import { createSurface, protectMargins, type Surface } from './surface.js';

export interface RenderedSample {
  index: number;
  stem: string;
  jpeg: Buffer;
  /** PNG buffers keyed by the mask's name in the file name: a family (`porosity`, `polish`) or a polish kind. */
  masks: Record<string, Buffer>;
  /** The manifest line, with paths relative to the output folder (`images/<stem>.jpg`, `masks/<stem>.<name>.png`). */
  entry: ManifestEntry;
}

export function stemFor(seed: number, index: number): string {
  return `s${seed}-${String(index).padStart(6, '0')}`;
}

/** Renders one photo and its labels in-process. Deterministic in (seed, index, size, domain, coverKinds). */
export async function renderSample(input: RenderOptionsInput): Promise<RenderedSample> {
  const opts = RenderOptionsSchema.parse(input);
  const { seed, index, size } = opts;
  const plan = planImage(seed, index, opts.domain, opts.coverKinds);
  const root = Rng.of(seed, index, 'render');
  const scene = root.fork('scene');
  const aspect = scene.chance(0.8) ? 4 / 3 : 3 / 2;
  const width = size;
  const height = Math.round(size / aspect);
  const fovMm = scene.logRange(opts.domain.fovMm[0], opts.domain.fovMm[1]);
  const mmPerPx = Number((fovMm / width).toPrecision(6));
  const S = 1 / mmPerPx;

  const { surface, piece, row } = buildScene(plan, width, height, S, mmPerPx, root);
  const setting = row ? rasterizeSetting(surface, row, root.fork('setting'), opts.omitStones) : null;
  const brushed = brushTexture(surface, root.fork('finish'));
  protectMargins(surface, Math.max(2, Math.round(0.04 * S)));
  const light = drawLighting(root.fork('light'));
  const hallmark = root.fork('hallmark-p').chance(0.45) ? stampHallmark(surface, plan.metal, root.fork('hallmark')) : null;

  const occupied = new Uint8Array(width * height);
  let groups = 0;
  const pixelDefects: PixelDefect[] = opts.omitDefects
    ? []
    : [
        ...addPorosity(surface, plan.porosity, light, occupied, root.fork('porosity'), () => ++groups),
        ...addPolish(surface, plan.polish, light, occupied, root.fork('polish')),
      ];

  const look = drawMetalLook(plan.metal, root.fork('metal'));
  const bg = paintBackground(plan.background, surface, light, root.fork('background'));
  const rgb = bg.rgb;
  const hazeTint = root.fork('haze-tint').range(0.3, 0.8);
  shadeMetal(surface, light, look, rgb, hazeTint);
  let stoneInfo: { colour: string; sparkles: number } | null = null;
  if (row && !opts.omitStones) {
    const painted = paintStones(surface, row.seats, light, rgb, root.fork('stones'));
    paintSparkles(painted.sparkles, width, height, rgb);
    stoneInfo = { colour: painted.colour, sparkles: painted.sparkles.length };
  }
  const dust = sprinkleDust(rgb, width, height, S, root.fork('dust'));
  const camera = drawCamera(root.fork('camera'), size);
  const pixels = await develop(rgb, width, height, camera, root.fork('noise'));
  const jpeg = await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.length), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: camera.jpegQuality, chromaSubsampling: camera.chromaSubsampling })
    .toBuffer();

  const stem = stemFor(seed, index);
  const defects: Defect[] = [];
  const familyMasks: Record<'porosity' | 'polish', Uint8Array | null> = { porosity: null, polish: null };
  const kindMasks: Record<string, Uint8Array> = {};
  for (const d of pixelDefects) {
    const fam = d.family as 'porosity' | 'polish';
    const fm = (familyMasks[fam] ??= new Uint8Array(width * height));
    const km = fam === 'polish' ? (kindMasks[d.kind] ??= new Uint8Array(width * height)) : null;
    for (let k = 0; k < d.pixels.length; k++) {
      fm[d.pixels[k]] = 255;
      if (km) km[d.pixels[k]] = 255;
    }
    defects.push(describe(d, width, mmPerPx));
  }
  if (row) defects.push(...row.defects);

  const masks: Record<string, Buffer> = {};
  for (const [name, m] of [...Object.entries(familyMasks), ...Object.entries(kindMasks)]) {
    if (m) masks[name] = await encodeMask(m, width, height);
  }
  const maskPath = (name: string) => `masks/${stem}.${name}.png`;
  const kindMaskPaths = Object.fromEntries(Object.keys(kindMasks).sort().map((k) => [k, maskPath(k)]));
  const entry: ManifestEntry = {
    schemaVersion: 1,
    file: `images/${stem}.jpg`,
    width,
    height,
    mmPerPx,
    source: 'synth',
    metal: plan.metal,
    piece: plan.piece,
    view: plan.view,
    labels: {
      porosity: defects.some((d) => d.family === 'porosity'),
      stone_spacing: defects.some((d) => d.family === 'stone_spacing'),
      polish: defects.some((d) => d.family === 'polish'),
    },
    masks: {
      porosity: familyMasks.porosity ? maskPath('porosity') : null,
      polish: familyMasks.polish ? maskPath('polish') : null,
    },
    ...(Object.keys(kindMaskPaths).length > 0 ? { kindMasks: kindMaskPaths } : {}),
    defects,
    stones: row ? row.stones : [],
    stoneRow: row ? row.stoneRow : null,
    render: {
      generator: 'loupe-synth/1',
      seed,
      index,
      imageSeed: hash32(seed, index, 'render'),
      size,
      fovMm: round3(fovMm),
      plan: { porosity: plan.porosity, stone_spacing: plan.spacing, polish: plan.polish },
      background: bg.params,
      piece: piece.params,
      setting: row ? { ...row.params, nominalGapMm: row.nominalGapMm, ...(setting?.params ?? {}), stone: stoneInfo } : null,
      finish: { ...brushed },
      metalLook: { f0: look.f0.map(round3), roughness: round3(look.roughness) },
      light: {
        keyAzimuthDeg: round3((Math.atan2(light.key.dir[1], light.key.dir[0]) * 180) / Math.PI),
        keyElevationDeg: round3((Math.asin(light.key.dir[2]) * 180) / Math.PI),
        keySizeRad: round3(light.key.size),
        keyIntensity: round3(light.key.intensity),
        lobes: light.lobes.length,
        ambient: [round3(light.ambientLow), round3(light.ambientHigh)],
      },
      hallmark,
      dust,
      camera: {
        exposure: round3(camera.exposure),
        whiteBalance: camera.whiteBalance.map(round3),
        vignette: round3(camera.vignette),
        blurPx: round3(camera.blurPx),
        focusFalloffPx: camera.focusFalloff ? round3(camera.focusFalloff.blurPx) : 0,
        readNoise: Number(camera.readNoise.toPrecision(3)),
        shotNoise: Number(camera.shotNoise.toPrecision(3)),
        jpegQuality: camera.jpegQuality,
        chromaSubsampling: camera.chromaSubsampling,
      },
      domain: opts.domain,
      coverKinds: opts.coverKinds,
    },
  };
  return { index, stem, jpeg, masks, entry };
}

/** Piece and stone row together: if the plan needs a row and this piece has no room for one, draw another piece. */
function buildScene(plan: ImagePlan, width: number, height: number, S: number, mmPerPx: number, root: Rng): { surface: Surface; piece: PieceResult; row: RowLayout | null } {
  let last: { surface: Surface; piece: PieceResult; row: RowLayout | null } | null = null;
  for (let attempt = 0; attempt < 6; attempt++) {
    const surface = createSurface(width, height, S);
    const piece = buildPiece(plan.piece, plan.view, surface, root.fork(`piece#${attempt}`));
    const row = plan.setting ? layoutRow(surface, piece.path, plan.setting, plan.spacing, mmPerPx, root.fork(`row#${attempt}`)) : null;
    last = { surface, piece, row };
    if (!plan.setting || row) return last;
  }
  return last!;
}

function describe(d: PixelDefect, width: number, mmPerPx: number): Defect {
  const area = d.pixels.length;
  const base = { family: d.family, kind: d.kind, bbox: bboxOf(d.pixels, width), areaPx: area };
  if (d.family === 'porosity') {
    const eq = equivalentDiameterPx(area);
    return { ...base, sizeMm: round4(eq * mmPerPx), sizePx: round4(eq), ...(d.group !== undefined ? { group: d.group } : {}) };
  }
  const size = d.lengthMm ?? largestExtentPx(d.pixels, width) * mmPerPx;
  return { ...base, sizeMm: round4(size) };
}

const round4 = (x: number) => Math.round(x * 10000) / 10000;

export async function encodeMask(mask: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(mask.buffer, mask.byteOffset, mask.length), { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png({ compressionLevel: 9, adaptiveFiltering: false })
    .toBuffer();
}
