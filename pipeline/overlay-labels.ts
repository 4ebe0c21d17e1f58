/**
 * Where overlay labels go: each at its preferred spot unless that covers a label already placed, then at the nearest
 * free spot a line or two above or below, or beside it. Pores a few tenths of a mm apart want their size labels in the
 * same place; drawn there, two labels became one unreadable smear.
 */

export interface LabelBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

const overlaps = (a: LabelBox, b: LabelBox) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/**
 * Places one `w` x `h` label wanted at (`x`, `y`) inside `width` x `height` (2 px margin) clear of `placed`, and adds it
 * there. Tries the wanted spot, then steps of one line height down and up, then sideways by its own width; when
 * nothing nearby is clear it keeps the wanted spot.
 */
export function placeLabel(placed: LabelBox[], want: LabelBox, width: number, height: number): LabelBox {
  const clamp = (b: LabelBox): LabelBox => ({
    ...b,
    x: Math.min(Math.max(2, b.x), Math.max(2, width - b.w - 2)),
    y: Math.min(Math.max(2, b.y), Math.max(2, height - b.h - 2)),
  });
  const step = want.h + 3;
  const tries: Array<[number, number]> = [[0, 0]];
  for (let i = 1; i <= 3; i++) tries.push([0, i * step], [0, -i * step]);
  tries.push([want.w + 4, 0], [-(want.w + 4), 0]);
  for (const [dx, dy] of tries) {
    const at = clamp({ ...want, x: want.x + dx, y: want.y + dy });
    if (!placed.some((p) => overlaps(p, at))) {
      placed.push(at);
      return at;
    }
  }
  const at = clamp(want);
  placed.push(at);
  return at;
}
