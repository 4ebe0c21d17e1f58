import type { DecodedRgb } from './decode.js';
import type { ChannelMaps } from './infer.js';
import type { PieceMask } from './piece-mask.js';

/**
 * The models run on the piece's bounding box, not the whole frame. Every consumer of the maps already keeps to the
 * piece (findings, image scores and verifier candidates are read on the piece mask, stones sit on the piece), so the
 * backdrop around it is inference spent on nothing: a band framed with room around it leaves half the frame or more
 * to the backdrop, and the seg network's time grows with its input's area.
 */

/** Working px kept around the piece's box: the network's view of the piece's edge (its neighbourhood up to ~1.5 mm
 * at 0.012 mm/px) stays the same as on the whole frame, and the mask's outline (computed at ~1/4 of working scale and
 * interpolated) stays inside by a wide margin. */
export const PIECE_CROP_MARGIN_PX = 128;
/** Above this share of the frame a crop saves too little inference to be worth copying the input's pixels out. */
export const PIECE_CROP_MAX_SHARE = 0.85;

export interface CropRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * The rectangle of a `width` x `height` image the models need: the piece mask's bounding box scaled to that image,
 * `margin` px wider on every side, aligned outward to `multiple` (the network's stride), clamped to the image. Null
 * when the whole image is needed: the mask fell back to the frame, or the box is nearly the frame anyway.
 */
export function pieceCropRect(piece: PieceMask, width: number, height: number, margin = PIECE_CROP_MARGIN_PX, multiple = 16): CropRect | null {
  if (piece.source !== 'piece') return null;
  let x0 = piece.width;
  let y0 = piece.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < piece.height; y++) {
    const row = y * piece.width;
    for (let x = 0; x < piece.width; x++) {
      if (!piece.mask[row + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x1 < 0) return null;
  const sx = width / piece.width;
  const sy = height / piece.height;
  const left = Math.max(0, Math.floor((Math.floor(x0 * sx) - margin) / multiple) * multiple);
  const top = Math.max(0, Math.floor((Math.floor(y0 * sy) - margin) / multiple) * multiple);
  const right = Math.min(width, Math.ceil((Math.ceil((x1 + 1) * sx) + margin) / multiple) * multiple);
  const bottom = Math.min(height, Math.ceil((Math.ceil((y1 + 1) * sy) + margin) / multiple) * multiple);
  const rect = { x: left, y: top, width: right - left, height: bottom - top };
  if (rect.width * rect.height > PIECE_CROP_MAX_SHARE * width * height) return null;
  return rect;
}

/** The rectangle's pixels as their own image (one row copy each). */
export function cropRgb(rgb: DecodedRgb, r: CropRect): DecodedRgb {
  const data = Buffer.allocUnsafe(r.width * r.height * 3);
  for (let y = 0; y < r.height; y++) {
    const from = ((r.y + y) * rgb.width + r.x) * 3;
    rgb.data.copy(data, y * r.width * 3, from, from + r.width * 3);
  }
  return { data, width: r.width, height: r.height };
}

/** Maps of the crop placed back in full-size planes; outside the crop every channel reads 0 (no defect, no stone). */
export function uncropMaps(maps: ChannelMaps, r: CropRect, width: number, height: number): ChannelMaps {
  const planes = new Map<string, Float32Array>();
  for (const [name, plane] of maps.planes) {
    const full = new Float32Array(width * height);
    for (let y = 0; y < r.height; y++) full.set(plane.subarray(y * r.width, (y + 1) * r.width), (r.y + y) * width + r.x);
    planes.set(name, full);
  }
  return { modelId: maps.modelId, width, height, planes };
}
