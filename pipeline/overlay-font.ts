/**
 * A built-in stroke font for overlay labels (digits, '.', '-', '+', 'm', 'x', '?', '#'), drawn as SVG paths. librsvg needs
 * fonts for <text>, and a fresh server often has none; strokes need nothing and look the same everywhere.
 * Glyphs live in a 4 x 7 box, advance 6 units.
 */

const SEG: Record<string, string> = {
  a: 'M0 0H4',
  b: 'M4 0V3.5',
  c: 'M4 3.5V7',
  d: 'M0 7H4',
  e: 'M0 3.5V7',
  f: 'M0 0V3.5',
  g: 'M0 3.5H4',
};

const DIGITS: Record<string, string> = {
  '0': 'abcdef',
  '2': 'abged',
  '3': 'abgcd',
  '4': 'fgbc',
  '5': 'afgcd',
  '6': 'afgedc',
  '7': 'abc',
  '8': 'abcdefg',
  '9': 'abcdfg',
  '-': 'g',
};

const OTHER: Record<string, string> = {
  '1': 'M1 1L2.5 0V7',
  '.': 'M1.6 6.6H2.4V7H1.6Z',
  m: 'M0 7V3.5H4V7M2 3.5V7',
  '+': 'M2 2V5M0.5 3.5H3.5',
  x: 'M0.5 3.5L3.5 7M3.5 3.5L0.5 7',
  '#': 'M1.3 1V7M2.7 1V7M0 3H4M0 5H4',
  '?': 'M0 1L1 0H3L4 1V2.2L2 3.8V5.2M1.6 6.6H2.4V7H1.6Z',
  ' ': '',
};

export const GLYPH_ADVANCE = 6;
export const GLYPH_HEIGHT = 7;

function glyph(ch: string): string {
  const segs = DIGITS[ch];
  if (segs !== undefined) return [...segs].map((s) => SEG[s]).join('');
  return OTHER[ch] ?? OTHER['#']!;
}

/** Path data for `text` starting at (0, 0), in glyph units. */
export function textPath(text: string): string {
  return [...text]
    .map((ch, i) => {
      const d = glyph(ch);
      if (!d) return '';
      // Shift each glyph by its advance: absolute commands are rewritten by translating their coordinates.
      return d.replace(/([MLHVZ])([^MLHVZ]*)/g, (_, cmd: string, args: string) => {
        const nums = args.trim().split(/[\s,]+/).filter(Boolean).map(Number);
        if (cmd === 'H') return `H${nums[0]! + i * GLYPH_ADVANCE}`;
        if (cmd === 'V' || cmd === 'Z') return cmd + args.trim();
        const out: number[] = [];
        for (let k = 0; k < nums.length; k += 2) out.push(nums[k]! + i * GLYPH_ADVANCE, nums[k + 1]!);
        return `${cmd}${out.join(' ')}`;
      });
    })
    .join('');
}

/** An SVG fragment drawing `text` with its top-left at (x, y), `height` px tall, with a dark halo for contrast. */
export function svgLabel(text: string, x: number, y: number, height: number, colour: string): string {
  const scale = height / GLYPH_HEIGHT;
  const d = textPath(text);
  const t = `translate(${x.toFixed(1)} ${y.toFixed(1)}) scale(${scale.toFixed(3)})`;
  return (
    `<path d="${d}" transform="${t}" fill="none" stroke="#000" stroke-opacity="0.8" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/>` +
    `<path d="${d}" transform="${t}" fill="none" stroke="${colour}" stroke-width="1.1" stroke-linecap="round" stroke-linejoin="round"/>`
  );
}

export function labelWidth(text: string, height: number): number {
  return (text.length * GLYPH_ADVANCE - (GLYPH_ADVANCE - 4)) * (height / GLYPH_HEIGHT);
}
