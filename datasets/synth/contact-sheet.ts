import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { MANIFEST_FILE, ManifestEntrySchema, type ManifestEntry } from '../manifest.schema.js';
import { GLYPH_H, glyphBit } from './font5x7.js';

const COLOURS: Record<string, [number, number, number]> = {
  porosity: [255, 40, 40],
  scratch: [0, 230, 255],
  haze: [255, 230, 0],
  tool_mark: [255, 0, 255],
  orange_peel: [255, 140, 0],
  stone: [60, 255, 60],
  missing: [255, 255, 0],
  spacing: [255, 90, 200],
};

const TILE_W = 300;
const CAPTION_H = 22;

/**
 * A sheet of every image in a dataset folder beside its labels: a dimmed copy with porosity in red, polish kinds in
 * their colours, stones outlined green, empty seats yellow and spacing defects boxed. Captions use the bitmap font.
 */
export async function writeContactSheet(dir: string, outFile: string, perRow = 4): Promise<void> {
  const lines = (await readFile(join(dir, MANIFEST_FILE), 'utf8')).split('\n').filter(Boolean);
  const entries = lines.map((l) => ManifestEntrySchema.parse(JSON.parse(l)));
  const tiles = await Promise.all(entries.map((e) => pairTile(dir, e)));
  const tileH = tiles[0].height;
  const pairW = 2 * TILE_W + 6;
  const rows = Math.ceil(tiles.length / perRow);
  const W = perRow * (pairW + 10) + 10;
  const H = rows * (tileH + 10) + 10;
  await sharp({ create: { width: W, height: H, channels: 3, background: { r: 20, g: 20, b: 24 } } })
    .composite(tiles.map((t, k) => ({ input: t.data, raw: { width: pairW, height: t.height, channels: 3 as const }, left: 10 + (k % perRow) * (pairW + 10), top: 10 + Math.floor(k / perRow) * (tileH + 10) })))
    .jpeg({ quality: 82 })
    .toFile(outFile);
}

async function pairTile(dir: string, e: ManifestEntry): Promise<{ data: Buffer; height: number }> {
  const { data: img } = await sharp(join(dir, e.file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width: W, height: H } = e;
  const over = Buffer.alloc(W * H * 3);
  for (let i = 0; i < W * H * 3; i++) over[i] = img[i] >> 1;
  const paint = async (path: string | null | undefined, colour: [number, number, number]) => {
    if (!path) return;
    const { data: m } = await sharp(join(dir, path)).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    for (let i = 0; i < W * H; i++) if (m[i] > 127) for (let c = 0; c < 3; c++) over[3 * i + c] = colour[c];
  };
  await paint(e.masks.porosity, COLOURS.porosity);
  for (const [kind, path] of Object.entries(e.kindMasks ?? {})) await paint(path, COLOURS[kind] ?? [255, 255, 255]);
  const thick = Math.max(1, Math.round(W / 400));
  for (const s of e.stones) ring(over, W, H, s.cx, s.cy, s.r, thick, COLOURS.stone);
  for (const m of e.stoneRow?.missing ?? []) ring(over, W, H, m.cx, m.cy, 4 * thick, thick, COLOURS.missing);
  for (const d of e.defects) if (d.family === 'stone_spacing') rect(over, W, H, d.bbox, thick, COLOURS.spacing);
  const th = Math.round((TILE_W * H) / W);
  const small = async (buf: Buffer) => sharp(buf, { raw: { width: W, height: H, channels: 3 } }).resize(TILE_W, th).raw().toBuffer();
  const [a, b] = await Promise.all([small(img), small(over)]);
  const pairW = 2 * TILE_W + 6;
  const height = th + CAPTION_H;
  const out = Buffer.alloc(pairW * height * 3, 0);
  for (let y = 0; y < th; y++) {
    a.copy(out, 3 * (y * pairW), 3 * y * TILE_W, 3 * (y + 1) * TILE_W);
    b.copy(out, 3 * (y * pairW + TILE_W + 6), 3 * y * TILE_W, 3 * (y + 1) * TILE_W);
  }
  const stem = e.file.replace(/^images\//, '').replace(/\.jpg$/, '');
  const kinds = [...new Set(e.defects.map((d) => d.kind))];
  const caption = `${stem} ${e.metal ?? ''} ${e.piece ?? ''} ${kinds.length ? kinds.join(' ') : 'CLEAN'}`;
  text(out, pairW, height, 4, th + 5, caption, caption.length * 12 + 8 > pairW ? 1 : 2);
  return { data: out, height };
}

function ring(buf: Buffer, W: number, H: number, cx: number, cy: number, r: number, t: number, c: [number, number, number]): void {
  for (let y = Math.floor(cy - r - t); y <= Math.ceil(cy + r + t); y++) {
    for (let x = Math.floor(cx - r - t); x <= Math.ceil(cx + r + t); x++) {
      if (x < 0 || y < 0 || x >= W || y >= H) continue;
      if (Math.abs(Math.hypot(x - cx, y - cy) - r) <= t / 2 + 0.5) for (let k = 0; k < 3; k++) buf[3 * (y * W + x) + k] = c[k];
    }
  }
}

function rect(buf: Buffer, W: number, H: number, [x0, y0, x1, y1]: readonly number[], t: number, c: [number, number, number]): void {
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const edge = x < x0 + t || x >= x1 - t || y < y0 + t || y >= y1 - t;
      if (edge && x >= 0 && y >= 0 && x < W && y < H) for (let k = 0; k < 3; k++) buf[3 * (y * W + x) + k] = c[k];
    }
  }
}

function text(buf: Buffer, W: number, H: number, x0: number, y0: number, s: string, scale: number): void {
  for (let k = 0; k < s.length; k++) {
    for (let gy = 0; gy < GLYPH_H; gy++) {
      for (let gx = 0; gx < 5; gx++) {
        if (!glyphBit(s[k], gx, gy)) continue;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const x = x0 + (k * 6 + gx) * scale + dx;
            const y = y0 + gy * scale + dy;
            if (x < W && y < H) buf.fill(230, 3 * (y * W + x), 3 * (y * W + x) + 3);
          }
        }
      }
    }
  }
}
