import { describe, expect, it } from 'vitest';
import { calibrateCheckerboard, CheckerboardError } from '../../pipeline/calibration/checkerboard.js';
import { checkerboardPhoto } from './support-checkerboard.js';

const board = { squareMm: 4, innerCorners: { cols: 9, rows: 6 } };
const squares = { x: 10, y: 7 };

describe('station calibration from a checkerboard photo', () => {
  const cases = [
    { pitchPx: 60, rotationDeg: 0 },
    { pitchPx: 47.3, rotationDeg: 7 },
    { pitchPx: 35.2, rotationDeg: -23 },
    { pitchPx: 58, rotationDeg: 45, offset: { x: -120, y: 60 } },
    { pitchPx: 83.7, rotationDeg: -13, width: 3000, height: 2200 },
    { pitchPx: 121.4, rotationDeg: 4, width: 4000, height: 3000 },
  ];
  for (const c of cases) {
    it(`measures mm per pixel within 1 % (square ${c.pitchPx} px, rotated ${c.rotationDeg}°, ${c.width ?? 1600}×${c.height ?? 1200})`, async () => {
      const photo = await checkerboardPhoto({ squares, ...c });
      const r = await calibrateCheckerboard(photo, board);
      const expected = board.squareMm / c.pitchPx;
      expect(Math.abs(r.mmPerPx - expected) / expected).toBeLessThan(0.01);
      expect(Math.abs(r.rotationDeg - c.rotationDeg)).toBeLessThan(1);
      expect(r.board).toEqual({ squaresX: 10, squaresY: 7 });
      expect(r.warnings).toEqual([]);
    });
  }

  it('finds the board whichever way round the inner corners are given', async () => {
    const r = await calibrateCheckerboard(await checkerboardPhoto({ squares, pitchPx: 50, rotationDeg: 90 }), { squareMm: 4, innerCorners: { cols: 6, rows: 9 } });
    expect(Math.abs(r.mmPerPx - 4 / 50) / (4 / 50)).toBeLessThan(0.01);
  });

  it('warns that the board is tilted when its axes measure differently', async () => {
    const r = await calibrateCheckerboard(await checkerboardPhoto({ squares, pitchPx: 60, rotationDeg: 3, squashY: 0.94 }), board);
    expect(r.warnings.map((w) => w.code)).toContain('tilted');
    expect(r.anisotropy).toBeGreaterThan(0.05);
    expect(r.mmPerPxAxes[1]).toBeGreaterThan(r.mmPerPxAxes[0]);
  });

  it('warns about perspective when the squares shrink across the board', async () => {
    const r = await calibrateCheckerboard(await checkerboardPhoto({ squares, pitchPx: 60, rotationDeg: 4, keystone: 0.12 }), board);
    expect(r.warnings.map((w) => w.code)).toContain('perspective');
  });

  it('warns that the photo is blurred, and still measures within 1 %', async () => {
    const r = await calibrateCheckerboard(await checkerboardPhoto({ squares, pitchPx: 60, rotationDeg: 5, blurSigma: 6 }), board);
    expect(r.warnings.map((w) => w.code)).toEqual(['blurred']);
    expect(Math.abs(r.mmPerPx - 4 / 60) / (4 / 60)).toBeLessThan(0.01);
  });

  it('refuses a board whose size does not match the declared inner corners, and a photo without a board', async () => {
    const photo = await checkerboardPhoto({ squares, pitchPx: 50 });
    await expect(calibrateCheckerboard(photo, { squareMm: 4, innerCorners: { cols: 7, rows: 6 } })).rejects.toMatchObject({ code: expect.stringMatching(/board_(mismatch|not_found)/) });
    const blank = await checkerboardPhoto({ squares: { x: 0, y: 0 }, pitchPx: 50 });
    await expect(calibrateCheckerboard(blank, board)).rejects.toBeInstanceOf(CheckerboardError);
    await expect(calibrateCheckerboard(Buffer.from('not an image'), board)).rejects.toMatchObject({ code: 'not_an_image' });
  });
});
