import { describe, expect, it } from 'vitest';
import { planAxis } from '../../pipeline/preprocess.js';

const TILE = 2048;
const OVERLAP = 128;
const MULTIPLE = 16;

describe('tiling an axis longer than one tile (planAxis)', () => {
  it('splits a 2378 px axis (a 12 MP photo analysed on its whole frame) into two tiles of 1264 px, not two of 2048', () => {
    const plan = planAxis(2378, TILE, OVERLAP, MULTIPLE);
    expect(plan.size).toBe(1264);
    expect(plan.starts).toEqual([0, 1114]);
  });

  it('for every length: as few tiles as before, each of the network stride and at most the tile size, overlapping by at least the overlap, owning every pixel once, far from its edges', () => {
    for (let length = TILE + 1; length <= 3 * TILE + 500; length += 7) {
      const { size, starts, ownFrom, ownTo } = planAxis(length, TILE, OVERLAP, MULTIPLE);
      const count = Math.ceil((length - OVERLAP) / (TILE - OVERLAP));
      expect(starts.length, `length ${length}`).toBe(count);
      expect(size % MULTIPLE).toBe(0);
      expect(size).toBeLessThanOrEqual(TILE);
      expect(starts[0]).toBe(0);
      expect(starts.at(-1)! + size).toBe(length);
      expect(ownFrom[0]).toBe(0);
      expect(ownTo.at(-1)).toBe(length);
      for (let i = 1; i < count; i++) {
        expect(starts[i - 1]! + size - starts[i]!, `overlap ${i} of length ${length}`).toBeGreaterThanOrEqual(OVERLAP);
        expect(ownFrom[i]).toBe(ownTo[i - 1]);
        // Owned pixels stay half an overlap from the edge a neighbour covers.
        expect(ownFrom[i]! - starts[i]!).toBeGreaterThanOrEqual(OVERLAP / 2 - 1);
        expect(starts[i - 1]! + size - ownTo[i - 1]!).toBeGreaterThanOrEqual(OVERLAP / 2 - 1);
      }
      // The network sees the axis about once: its length, the overlaps and the stride's rounding.
      expect(size * count).toBeLessThanOrEqual(length + (count - 1) * (OVERLAP + MULTIPLE) + count * MULTIPLE);
    }
  });

  it('pads an axis that fits one tile up to the stride', () => {
    expect(planAxis(1000, TILE, OVERLAP, MULTIPLE)).toEqual({ size: 1008, starts: [0], ownFrom: [0], ownTo: [1000] });
  });
});
