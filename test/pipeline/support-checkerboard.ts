import sharp from 'sharp';

/**
 * A photo of a printed checkerboard, drawn by the test: `squares` (x × y) squares of `pitchPx` pixels, rotated by
 * `rotationDeg` about the image centre, optionally squashed along y (`squashY`, a board tilted about the x axis),
 * blurred (`blurSigma`) and saved as JPEG, on a grey table with a white paper margin.
 */
export async function checkerboardPhoto(opts: {
  width?: number;
  height?: number;
  squares: { x: number; y: number };
  pitchPx: number;
  rotationDeg?: number;
  squashY?: number;
  blurSigma?: number;
  offset?: { x: number; y: number };
  /** Perspective: the far edge (top) is this much smaller than the near one, relative (0.1 = 10 %). */
  keystone?: number;
}): Promise<Buffer> {
  const W = opts.width ?? 1600;
  const H = opts.height ?? 1200;
  const p = opts.pitchPx;
  const bw = opts.squares.x * p;
  const bh = opts.squares.y * p;
  const cx = W / 2 + (opts.offset?.x ?? 0);
  const cy = H / 2 + (opts.offset?.y ?? 0);
  const margin = p * 0.8;
  // A projective map that keeps the centre and shrinks rows towards the top by `keystone` over the board's height.
  const k = opts.keystone ?? 0;
  const warp = (x: number, y: number): string => {
    const wgt = 1 + (k * y) / bh;
    return `${(x / wgt).toFixed(4)},${(y / wgt).toFixed(4)}`;
  };
  const quad = (x0: number, y0: number, x1: number, y1: number, fill: string) =>
    k === 0
      ? `<rect x="${x0.toFixed(4)}" y="${y0.toFixed(4)}" width="${(x1 - x0).toFixed(4)}" height="${(y1 - y0).toFixed(4)}" fill="${fill}"/>`
      : `<polygon points="${warp(x0, y0)} ${warp(x1, y0)} ${warp(x1, y1)} ${warp(x0, y1)}" fill="${fill}"/>`;
  const rects: string[] = [];
  for (let j = 0; j < opts.squares.y; j++) {
    for (let i = 0; i < opts.squares.x; i++) {
      if ((i + j) % 2 === 0) rects.push(quad(-bw / 2 + i * p, -bh / 2 + j * p, -bw / 2 + (i + 1) * p, -bh / 2 + (j + 1) * p, '#141414'));
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">
    <rect width="${W}" height="${H}" fill="#7a7570"/>
    <g transform="translate(${cx} ${cy}) rotate(${opts.rotationDeg ?? 0}) scale(1 ${opts.squashY ?? 1})">
      ${quad(-bw / 2 - margin, -bh / 2 - margin, bw / 2 + margin, bh / 2 + margin, '#f4f2ee')}
      ${rects.join('\n')}
    </g>
  </svg>`;
  let img = sharp(Buffer.from(svg));
  if (opts.blurSigma) img = sharp(await img.png().toBuffer()).blur(opts.blurSigma);
  return img.jpeg({ quality: 92 }).toBuffer();
}
