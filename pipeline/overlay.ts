import sharp, { type OverlayOptions } from 'sharp';
import { decodeRle } from './postprocess/rle.js';
import type { BBox, InspectionReport, MaskRle } from './report.schema.js';
import { labelWidth, svgLabel } from './overlay-font.js';
import { placeLabel, type LabelBox } from './overlay-labels.js';
import { reachesGate, withGateFlags } from './score.js';
import { unlocatedFlags } from './unlocated.js';

/**
 * Renders what a report found on its photo: masks tinted per family, boxes, stones (circle + centre), missing stone
 * positions, gap labels in mm, and a reticle labelled `?<score>` where a flag's score was read when nothing of it is
 * outlined. Needs only the photo bytes and the report (the service renders on request from
 * stored reports); never on the timed inspection path. The PNG is at most `maxSide` (<= 2048) px on its long side.
 *
 * Only findings that counted are drawn: one whose kind's score stayed below its gate (`belowGate`) is left off
 * entirely, box, label and mask pixels alike. The overlay is the picture of the verdict, seen at the station as well
 * as in review; a discounted region can cover most of the piece (a model's haze) and would hide the photo under what
 * decided nothing, and dashes already mean something here (flagged gaps, missing stones). The review page lists
 * below-gate findings apart and outlines them itself, for an inspector who wants to add one as missed.
 */

export const OVERLAY_MAX_SIDE = 2048;

export const OVERLAY_COLOURS = {
  porosity: '#ff3b30',
  polish: { scratch: '#0a84ff', tool_mark: '#5e5ce6', haze: '#64d2ff', orange_peel: '#ff9f0a' },
  stone: '#30d158',
  stoneFlagged: '#ffd60a',
  missing: '#ff375f',
} as const;

const MASK_RGB = { porosity: [255, 59, 48], polish: [10, 132, 255] } as const;
const MASK_ALPHA = 120;

export interface RenderOverlayOptions {
  /** Long side of the PNG; capped at 2048. */
  maxSide?: number;
}

/**
 * Which mask pixels lie in a counted finding's box. Reports made before `belowGate` existed keep every region in
 * their masks; clipping to the counted boxes keeps discounted ones off (exact but for where boxes overlap). Masks of
 * newer reports hold counted regions only, so this changes nothing there.
 */
function countedPixels(mask: MaskRle, boxes: readonly BBox[]): Uint8Array {
  const keep = new Uint8Array(mask.width * mask.height);
  const s = mask.scaleToPhoto;
  for (const b of boxes) {
    const x0 = Math.max(0, Math.floor(b[0] / s));
    const y0 = Math.max(0, Math.floor(b[1] / s));
    const x1 = Math.min(mask.width, Math.ceil(b[2] / s));
    const y1 = Math.min(mask.height, Math.ceil(b[3] / s));
    for (let y = y0; y < y1; y++) keep.fill(1, y * mask.width + x0, y * mask.width + x1);
  }
  return keep;
}

async function maskLayer(mask: MaskRle, keep: Uint8Array, rgb: readonly number[], width: number, height: number): Promise<Buffer> {
  const bits = decodeRle(mask);
  const rgba = Buffer.alloc(mask.width * mask.height * 4);
  for (let i = 0; i < bits.length; i++) {
    if (!bits[i] || !keep[i]) continue;
    rgba[i * 4] = rgb[0]!;
    rgba[i * 4 + 1] = rgb[1]!;
    rgba[i * 4 + 2] = rgb[2]!;
    rgba[i * 4 + 3] = MASK_ALPHA;
  }
  // The mask covers mask.width * scaleToPhoto photo pixels, which can overhang the photo by a rounding pixel.
  return sharp(rgba, { raw: { width: mask.width, height: mask.height, channels: 4 } })
    .resize(width, height, { fit: 'fill', kernel: 'nearest' })
    .png({ compressionLevel: 1 })
    .toBuffer();
}

const esc = (n: number) => n.toFixed(1);

export async function renderOverlay(photoBytes: Uint8Array, stored: InspectionReport, options: RenderOverlayOptions = {}): Promise<Buffer> {
  const report = withGateFlags(stored);
  const counted = {
    porosity: report.families.porosity.findings.filter((f) => !f.belowGate),
    spacing: report.families.stone_spacing.findings.filter((f) => !f.belowGate),
    polish: report.families.polish.findings.filter((f) => !f.belowGate),
  };
  const maxSide = Math.min(OVERLAY_MAX_SIDE, options.maxSide ?? OVERLAY_MAX_SIDE);
  const { width: pw, height: ph } = report.photo;
  const k = Math.min(1, maxSide / Math.max(pw, ph));
  const width = Math.max(1, Math.round(pw * k));
  const height = Math.max(1, Math.round(ph * k));
  const base = await sharp(photoBytes, { limitInputPixels: pw * ph + 1, failOn: 'error' })
    .rotate()
    .toColourspace('srgb')
    .removeAlpha()
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });

  const layers: OverlayOptions[] = [];
  const masks: Array<[MaskRle | null, readonly BBox[], readonly number[]]> = [
    [report.families.polish.mask, counted.polish.map((f) => f.bbox), MASK_RGB.polish],
    [report.families.porosity.mask, counted.porosity.map((f) => f.bbox), MASK_RGB.porosity],
  ];
  for (const [mask, boxes, rgb] of masks) {
    if (!mask || boxes.length === 0) continue;
    // Size of the mask's footprint in overlay pixels (it may extend a pixel beyond the photo; clipped below).
    const mw = Math.max(1, Math.round(mask.width * mask.scaleToPhoto * k));
    const mh = Math.max(1, Math.round(mask.height * mask.scaleToPhoto * k));
    const layer = await maskLayer(mask, countedPixels(mask, boxes), rgb, mw, mh);
    const input = mw > width || mh > height ? await sharp(layer).extract({ left: 0, top: 0, width: Math.min(mw, width), height: Math.min(mh, height) }).toBuffer() : layer;
    layers.push({ input, left: 0, top: 0 });
  }

  const stroke = Math.max(1.5, Math.max(width, height) / 700);
  const fontPx = Math.max(10, Math.round(Math.max(width, height) / 90));
  const svg: string[] = [];
  const box = (b: readonly number[], colour: string, dashed = false) =>
    svg.push(
      `<rect x="${esc(b[0]! * k - stroke)}" y="${esc(b[1]! * k - stroke)}" width="${esc((b[2]! - b[0]!) * k + 2 * stroke)}" height="${esc((b[3]! - b[1]!) * k + 2 * stroke)}" fill="none" stroke="${colour}" stroke-width="${esc(stroke)}"${dashed ? ` stroke-dasharray="${esc(stroke * 3)} ${esc(stroke * 2)}"` : ''}/>`,
    );
  const placed: LabelBox[] = [];
  const label = (text: string, x: number, y: number, colour: string) => {
    const at = placeLabel(placed, { x, y, w: labelWidth(text, fontPx), h: fontPx }, width, height);
    svg.push(svgLabel(text, at.x, at.y, fontPx, colour));
  };

  for (const f of counted.porosity) {
    box(f.bbox, OVERLAY_COLOURS.porosity);
    label(`${f.diameterMm.toFixed(2)}mm`, f.bbox[0] * k, f.bbox[1] * k - fontPx - stroke * 2, OVERLAY_COLOURS.porosity);
  }
  for (const f of counted.polish) {
    const colour = OVERLAY_COLOURS.polish[f.kind];
    box(f.bbox, colour);
    const size = f.lengthMm !== undefined ? `${f.lengthMm.toFixed(2)}mm` : `${(f.areaMm2 ?? 0).toFixed(2)}mm`;
    label(size, f.bbox[0] * k, f.bbox[3] * k + stroke * 2, colour);
  }

  // A family or polish kind that reached its gate with nothing of it outlined (a model trained on photos labelled per
  // image outlines nothing it was not shown): a reticle where its score was read, so the flag still has a place.
  const reticle = (at: { cx: number; cy: number }, score: number, colour: string) => {
    const r = Math.max(fontPx * 1.5, Math.max(width, height) / 40);
    const x = at.cx * k;
    const y = at.cy * k;
    svg.push(`<circle cx="${esc(x)}" cy="${esc(y)}" r="${esc(r)}" fill="none" stroke="${colour}" stroke-width="${esc(stroke)}"/>`);
    const ticks = [[0, -1], [0, 1], [-1, 0], [1, 0]].map(([dx, dy]) => `M${esc(x + dx! * r * 0.5)} ${esc(y + dy! * r * 0.5)}L${esc(x + dx! * r * 1.4)} ${esc(y + dy! * r * 1.4)}`);
    svg.push(`<path d="${ticks.join('')}" stroke="${colour}" stroke-width="${esc(stroke)}"/>`);
    label(`?${score.toFixed(2)}`, x + r * 0.8, y - r * 1.2 - fontPx, colour);
  };
  for (const u of unlocatedFlags(report)) {
    const colour = u.family === 'porosity' ? OVERLAY_COLOURS.porosity : (OVERLAY_COLOURS.polish[u.kind as keyof typeof OVERLAY_COLOURS.polish] ?? OVERLAY_COLOURS.polish.scratch);
    reticle(u, u.score, colour);
  }

  const spacing = report.families.stone_spacing;
  const flaggedGaps = new Set(counted.spacing.filter((f) => f.gapIndex !== undefined && f.kind !== 'missing_stone').map((f) => f.gapIndex!));
  const flaggedStones = new Set(counted.spacing.filter((f) => f.stoneIndex !== undefined).map((f) => f.stoneIndex!));
  spacing.stones.forEach((s, i) => {
    const colour = flaggedStones.has(i) ? OVERLAY_COLOURS.stoneFlagged : OVERLAY_COLOURS.stone;
    svg.push(`<circle cx="${esc(s.cx * k)}" cy="${esc(s.cy * k)}" r="${esc(Math.max(2, s.r * k))}" fill="none" stroke="${colour}" stroke-width="${esc(stroke)}"/>`);
    svg.push(`<circle cx="${esc(s.cx * k)}" cy="${esc(s.cy * k)}" r="${esc(stroke * 1.2)}" fill="${colour}"/>`);
  });
  spacing.gapsMm.forEach((gap, i) => {
    const a = spacing.stones[i];
    const b = spacing.stones[i + 1];
    if (!a || !b) return;
    const colour = flaggedGaps.has(i) ? OVERLAY_COLOURS.stoneFlagged : OVERLAY_COLOURS.stone;
    const text = gap.toFixed(2);
    const mx = ((a.cx + b.cx) / 2) * k;
    const my = ((a.cy + b.cy) / 2) * k;
    // Alternate above/below the row so neighbouring labels do not collide on tight rows.
    const offset = (Math.max(a.r, b.r) * k + stroke * 3) * (i % 2 === 0 ? -1 : 1);
    label(text, mx - labelWidth(text, fontPx) / 2, my + offset - (i % 2 === 0 ? fontPx : 0), colour);
  });
  const medianR = spacing.stones.length > 0 ? [...spacing.stones].map((s) => s.r).sort((x, y) => x - y)[spacing.stones.length >> 1]! : fontPx / k;
  // Missing-stone markers are the spacing family's findings drawn at the seat: none when the family is below its gate.
  for (const m of reachesGate(spacing.score, spacing.gate) ? spacing.missing : []) {
    svg.push(
      `<circle cx="${esc(m.cx * k)}" cy="${esc(m.cy * k)}" r="${esc(Math.max(3, medianR * k))}" fill="none" stroke="${OVERLAY_COLOURS.missing}" stroke-width="${esc(stroke)}" stroke-dasharray="${esc(stroke * 3)} ${esc(stroke * 2)}"/>`,
    );
    label('x', m.cx * k - fontPx / 3, m.cy * k - fontPx / 2, OVERLAY_COLOURS.missing);
  }
  for (const f of counted.spacing) if (f.kind === 'gap_wide' || f.kind === 'gap_narrow') box(f.bbox, OVERLAY_COLOURS.stoneFlagged, true);

  if (svg.length > 0) {
    layers.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${svg.join('')}</svg>`), left: 0, top: 0 });
  }
  return sharp(base.data, { raw: { width: base.info.width, height: base.info.height, channels: 3 } })
    .composite(layers)
    .png()
    .toBuffer();
}
