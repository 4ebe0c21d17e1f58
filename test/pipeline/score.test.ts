import { describe, expect, it } from 'vitest';
import { loadProfiles } from '../../pipeline/profiles.js';
import type { PorosityFinding } from '../../pipeline/report.schema.js';
import { gateFor, judgePolish, judgePorosity } from '../../pipeline/score.js';

const profile = loadProfiles().get('ring');
const t = profile.porosity;

function pore(diameterMm: number): PorosityFinding {
  return { kind: 'gas_void', bbox: [10, 10, 20, 20], diameterMm, areaMm2: (Math.PI * diameterMm ** 2) / 4, confidence: 0.9, cx: 15, cy: 15, elongation: 1 };
}

describe('porosity verdict from score, gate and findings', () => {
  const gate = gateFor(undefined, 0.6);

  it('passes below the gate whatever was found', () => {
    expect(judgePorosity(0.59, gate, [pore(t.failDiameterMm * 2)], t)).toBe('pass');
  });

  it('fails and reviews by the profile tolerances in mm above the gate', () => {
    expect(judgePorosity(0.9, gate, [pore(t.failDiameterMm)], t)).toBe('fail');
    expect(judgePorosity(0.9, gate, [pore(t.reviewDiameterMm)], t)).toBe('review');
    expect(judgePorosity(0.9, gate, [pore(t.reviewDiameterMm * 0.5)], t)).toBe('pass');
  });

  it('sends a confident score with no outlined pore to review rather than passing it unseen', () => {
    expect(judgePorosity(0.9, gate, [], t)).toBe('review');
    // Without any calibrated or profile gate the score means nothing: only findings count.
    expect(judgePorosity(0.9, gateFor(undefined, undefined), [], t)).toBe('pass');
  });
});

describe('polish verdict per kind', () => {
  it('reviews a kind whose score passed its gate without any finding, passes one below its gate', () => {
    const gate = gateFor(undefined, 0.5);
    expect(judgePolish([{ kind: 'scratch', score: 0.8, gate, findings: [] }], profile.polish)).toBe('review');
    expect(judgePolish([{ kind: 'haze', score: 0.2, gate, findings: [] }], profile.polish)).toBe('pass');
  });
});
