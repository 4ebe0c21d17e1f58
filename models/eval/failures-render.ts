import sharp, { type OverlayOptions } from 'sharp';
import type { BBox } from '../../datasets/manifest.schema.js';
import { renderOverlay, type InspectionReport } from '../../pipeline/index.js';

/**
 * One gallery image: the service's own overlay of the model's findings (`renderOverlay`, unchanged), the manifest's
 * true defects drawn over it in a colour no finding uses, and a caption strip on top saying what failed.
 *
 * Captions and truth labels need letters, which the overlay's stroke font (digits and `mm` only) cannot draw, so they
 * are SVG text in a monospace font. That needs a font on the machine (DejaVu or Liberation here); the gallery is made
 * on a developer's machine for the model card, never on the service path, where the stroke font stays the rule.
 */

/** Magenta: not a finding colour in `OVERLAY_COLOURS`, and visible on yellow, white and grey metal. */
export const TRUTH_COLOUR = '#ff2bd6';
const CAPTION_BG = { r: 18, g: 18, b: 20 };
const TONE_COLOUR = { title: '#ffffff', failure: '#ffb340', context: '#b8b8c0' } as const;
const FONT = "DejaVu Sans Mono, Liberation Mono, Menlo, Consolas, monospace";
/** Advance of one monospace glyph per px of font size (DejaVu Sans Mono: 1233/2048). */
const MONO_ADVANCE = 0.602;
/** Narrow photos (real sets are often ~250 px) still get a caption strip wide enough to read. */
const MIN_WIDTH = 640;

export interface TruthMark {
  bbox: BBox;
  label: string;
  missed: boolean;
  /** Larger first when labels compete for room. */
  size: number;
}

export interface CaptionLine {
  text: string;
  tone: keyof typeof TONE_COLOUR;
}

export interface FailureImageOptions {
  maxSide: number;
  jpegQuality: number;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const n1 = (v: number) => v.toFixed(1);

/** Greedy word wrap for a monospace font; a single word longer than the line is cut. */
export function wrapText(text: string, maxChars: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    let w = word;
    while (w.length > maxChars) {
      if (line) lines.push(line);
      lines.push(w.slice(0, maxChars));
      w = w.slice(maxChars);
      line = '';
    }
    if (!line) line = w;
    else if (line.length + 1 + w.length <= maxChars) line += ` ${w}`;
    else {
      lines.push(line);
      line = w;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function haloText(text: string, x: number, y: number, px: number, colour: string, weight = 'bold'): string {
  const attrs = `x="${n1(x)}" y="${n1(y)}" font-family="${FONT}" font-size="${px}" font-weight="${weight}"`;
  return (
    `<text ${attrs} fill="none" stroke="#000" stroke-opacity="0.85" stroke-width="${n1(px / 4)}" stroke-linejoin="round">${xml(text)}</text>` +
    `<text ${attrs} fill="${colour}">${xml(text)}</text>`
  );
}

/** Truth boxes and their labels, in overlay pixels (`k` = overlay px per photo px). */
function truthSvg(marks: TruthMark[], k: number, width: number, height: number): string {
  const stroke = Math.max(1.5, Math.max(width, height) / 700);
  const px = Math.max(11, Math.round(Math.max(width, height) / 75));
  const minBox = 4 * stroke;
  const parts: string[] = [];
  const placed: Array<[number, number, number, number]> = [];
  const collides = (r: [number, number, number, number]) => placed.some((p) => r[0] < p[2] && p[0] < r[2] && r[1] < p[3] && p[1] < r[3]);
  const order = [...marks].sort((a, b) => Number(b.missed) - Number(a.missed) || b.size - a.size);
  for (const m of order) {
    let [x0, y0, x1, y1] = m.bbox.map((v) => v * k) as [number, number, number, number];
    // A 0.05 mm pore is 2 px at gallery scale: grow tiny boxes around their centre so the outline stays visible.
    if (x1 - x0 < minBox) [x0, x1] = [(x0 + x1) / 2 - minBox / 2, (x0 + x1) / 2 + minBox / 2];
    if (y1 - y0 < minBox) [y0, y1] = [(y0 + y1) / 2 - minBox / 2, (y0 + y1) / 2 + minBox / 2];
    const pad = stroke * 2.5;
    const rect = (w: number, colour: string, dash: string) =>
      `<rect x="${n1(x0 - pad)}" y="${n1(y0 - pad)}" width="${n1(x1 - x0 + 2 * pad)}" height="${n1(y1 - y0 + 2 * pad)}" fill="none" stroke="${colour}" stroke-width="${n1(w)}"${dash}/>`;
    const w = m.missed ? stroke * 1.6 : stroke;
    parts.push(rect(w + 2, '#000', ' stroke-opacity="0.6"'));
    parts.push(rect(w, TRUTH_COLOUR, m.missed ? ` stroke-dasharray="${n1(stroke * 4)} ${n1(stroke * 2)}"` : ` stroke-dasharray="${n1(stroke)} ${n1(stroke * 2)}"`));

    const lw = m.label.length * MONO_ADVANCE * px;
    const clampX = (x: number) => Math.min(Math.max(2, x), width - lw - 2);
    const candidates: Array<[number, number]> = [
      [clampX(x0 - pad), y0 - pad - px * 0.35],
      [clampX(x0 - pad), y1 + pad + px * 1.05],
      [clampX(x1 + pad + 3), (y0 + y1) / 2 + px * 0.35],
      [clampX(x0 - pad - lw - 3), (y0 + y1) / 2 + px * 0.35],
    ];
    for (const [x, yBase] of candidates) {
      const y = Math.min(Math.max(px + 1, yBase), height - 3);
      const r: [number, number, number, number] = [x, y - px, x + lw, y + px * 0.3];
      if (collides(r)) continue;
      placed.push(r);
      parts.push(haloText(m.label, x, y, px, TRUTH_COLOUR));
      break;
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

export async function renderFailureImage(
  photoBytes: Uint8Array,
  report: InspectionReport,
  truth: TruthMark[],
  caption: CaptionLine[],
  options: FailureImageOptions,
): Promise<Buffer> {
  const overlay = await renderOverlay(photoBytes, report, { maxSide: options.maxSide });
  const meta = await sharp(overlay).metadata();
  const ow = meta.width!;
  const oh = meta.height!;
  const k = ow / report.photo.width;

  const width = Math.max(ow, MIN_WIDTH);
  const px = Math.max(12, Math.round(width / 64));
  const lineH = Math.round(px * 1.35);
  const margin = Math.round(px * 0.6);
  const maxChars = Math.max(20, Math.floor((width - 2 * margin) / (MONO_ADVANCE * px)));
  const wrapped = caption.flatMap((c) => wrapText(c.text, maxChars).map((text) => ({ text, tone: c.tone })));
  const stripH = wrapped.length * lineH + 2 * margin;
  const captionSvg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${stripH}">` +
    wrapped
      .map(
        (l, i) =>
          `<text x="${margin}" y="${margin + i * lineH + Math.round(px * 0.95)}" font-family="${FONT}" font-size="${px}"${l.tone === 'context' ? '' : ' font-weight="bold"'} fill="${TONE_COLOUR[l.tone]}">${xml(l.text)}</text>`,
      )
      .join('') +
    '</svg>';

  const layers: OverlayOptions[] = [
    { input: overlay, left: 0, top: stripH },
    { input: Buffer.from(truthSvg(truth, k, ow, oh)), left: 0, top: stripH },
    { input: Buffer.from(captionSvg), left: 0, top: 0 },
  ];
  return sharp({ create: { width, height: stripH + oh, channels: 3, background: CAPTION_BG } })
    .composite(layers)
    .jpeg({ quality: options.jpegQuality, mozjpeg: true })
    .toBuffer();
}
