import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { renderOverlay } from '../../pipeline/overlay.js';
import { formatSummary } from '../../pipeline/summary.js';
import { fakeReport, GATED, gatedReport } from '../core/support/report-fixture.js';

const GREY = 128;

async function render(flags: 'stated' | 'absent') {
  const photo = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: GREY, g: GREY, b: GREY } } }).png().toBuffer();
  const png = await renderOverlay(photo, gatedReport({ flags }));
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height]).toEqual([800, 600]);
  return (x: number, y: number) => [...data.subarray((y * 800 + x) * 3, (y * 800 + x) * 3 + 3)];
}

/** Columns just left of a box (where its stroke lies) and rows inside it (its mask). */
const edge = (b: readonly number[]) => ({ x: b[0]! - 2, y: Math.round((b[1]! + b[3]!) / 2) });
const inside = (b: readonly number[]) => ({ x: Math.round((b[0]! + b[2]!) / 2), y: Math.round((b[1]! + b[3]!) / 2) });

describe('overlay draws the findings that counted, nothing of those below their gate', () => {
  for (const flags of ['stated', 'absent'] as const) {
    it(`boxes and tints the pore and the scratch, leaves the below-gate haze untouched (belowGate ${flags})`, async () => {
      const px = await render(flags);
      const untouched = [GREY, GREY, GREY];
      // Counted: the pore's red box and mask, the scratch's blue box and mask.
      const poreEdge = px(edge(GATED.pore).x, edge(GATED.pore).y);
      expect(poreEdge[0]).toBeGreaterThan(200);
      expect(px(inside(GATED.pore).x, inside(GATED.pore).y)).not.toEqual(untouched);
      const scratchEdge = px(edge(GATED.scratch).x, GATED.scratch[1] + 2);
      expect(scratchEdge[2]).toBeGreaterThan(200);
      expect(px(inside(GATED.scratch).x, GATED.scratch[1] + 2)).not.toEqual(untouched);
      // Below its gate: neither box, label nor mask, anywhere in or around the haze patch.
      const [x0, y0, x1, y1] = GATED.haze;
      for (let y = y0 - 4; y < y1 + 4; y += 3) for (let x = x0 - 4; x < x1 + 4; x += 3) expect(px(x, y), `${x},${y}`).toEqual(untouched);
    });
  }

  it('counts and lists only what counted in the printed summary, and says what was left out', () => {
    const text = formatSummary('p.jpg', gatedReport({ flags: 'absent' }));
    expect(text).toMatch(/polish\s+REVIEW\s+score 0\.80\s+1 finding\(s\)/);
    expect(text).toContain('scratch');
    expect(text).toContain('(not counted, below gate: 1 haze)');
    expect(text).not.toMatch(/haze\s+area/);
  });

  it('puts a reticle where the score was read on a family flagged with nothing outlined, and none below the gate', async () => {
    const photo = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: GREY, g: GREY, b: GREY } } }).png().toBuffer();
    const base = fakeReport();
    const flagged = (score: number, toolMark: number) => ({
      ...base,
      verdict: 'review' as const,
      families: {
        ...base.families,
        porosity: { ...base.families.porosity, score, verdict: 'review' as const, scoreAt: { cx: 400, cy: 300 } },
        polish: {
          ...base.families.polish,
          kindScores: { tool_mark: toolMark, haze: 0.9 },
          kindGates: { tool_mark: { scoreThreshold: 0.5, source: 'model' as const }, haze: { scoreThreshold: 0.5, source: 'model' as const } },
          // haze reached its gate but has no place recorded: nothing to draw.
          kindScoresAt: { tool_mark: { cx: 200, cy: 150 }, haze: null },
        },
      },
    });
    const pixels = async (report: ReturnType<typeof flagged>) => {
      const { data } = await sharp(await renderOverlay(photo, report)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return (x: number, y: number) => [...data.subarray((y * 800 + x) * 3, (y * 800 + x) * 3 + 3)];
    };
    // 800 px wide: ring radius 20 px, ticks from 10 to 28 px off the centre.
    const on = await pixels(flagged(0.9, 0.7));
    const ring = on(420, 300);
    expect(ring[0]).toBeGreaterThan(200);
    expect(ring[1]).toBeLessThan(120);
    expect(on(400, 281)[0]).toBeGreaterThan(200);
    expect(on(400, 300)).toEqual([GREY, GREY, GREY]);
    const toolMark = on(220, 150);
    expect(toolMark[2]).toBeGreaterThan(180);
    expect(toolMark[0]).toBeLessThan(150);
    const off = await pixels(flagged(0.3, 0.2));
    for (const [x, y] of [[420, 300], [400, 281], [220, 150]] as const) expect(off(x, y), `${x},${y}`).toEqual([GREY, GREY, GREY]);
    // The printed summary says the same.
    const text = formatSummary('p.jpg', flagged(0.9, 0.7));
    expect(text).toContain('nothing outlined; the score was read at (400, 300) px');
    expect(text).toMatch(/tool_mark\s+score 0\.70, nothing outlined; read at \(200, 150\) px/);
    expect(formatSummary('p.jpg', flagged(0.3, 0.2))).not.toContain('nothing outlined');
  });
});
