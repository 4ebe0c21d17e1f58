import { describe, expect, it } from 'vitest';
import { loadProfiles } from '../../pipeline/profiles.js';
import { InspectionReportSchema, type PorosityFinding } from '../../pipeline/report.schema.js';
import { gateFor, judgePolish, judgePorosity, markGate, withGateFlags } from '../../pipeline/score.js';
import { gatedReport } from '../core/support/report-fixture.js';

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

  it('never passes a gated score on region sizes when the pixel regions were not calibrated (image-labelled fine-tune)', () => {
    expect(judgePorosity(0.9, gate, [pore(t.reviewDiameterMm * 0.5)], t, true)).toBe('review');
    expect(judgePorosity(0.9, gate, [pore(t.failDiameterMm)], t, true)).toBe('fail');
    expect(judgePorosity(0.59, gate, [pore(t.failDiameterMm * 2)], t, true)).toBe('pass');
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

describe('which findings counted (belowGate)', () => {
  it('marks a family’s findings alike: below its gate all discounted, at or above it all counted', () => {
    const gate = gateFor(undefined, 0.6);
    expect(markGate([pore(0.2), pore(0.3)], 0.59, gate).map((f) => f.belowGate)).toEqual([true, true]);
    expect(markGate([pore(0.2)], 0.6, gate).map((f) => f.belowGate)).toEqual([false]);
  });

  it('reads a stored report without the flag, deriving it per polish kind from the stored scores and gates', () => {
    const stored = gatedReport({ flags: 'absent' });
    expect(stored.families.polish.findings.every((f) => f.belowGate === undefined)).toBe(true);
    const flagged = withGateFlags(InspectionReportSchema.parse(JSON.parse(JSON.stringify(stored))));
    expect(flagged.families.porosity.findings.map((f) => f.belowGate)).toEqual([false]);
    expect(flagged.families.polish.findings.map((f) => [f.kind, f.belowGate])).toEqual([
      ['scratch', false],
      ['haze', true],
    ]);
    // What the report now states is kept as stated, and a report with every flag is returned as is.
    const stated = gatedReport({ flags: 'stated' });
    expect(withGateFlags(stated)).toBe(stated);
  });

  it('holds a polish kind to its own gate when the report records kind gates', () => {
    const r = gatedReport({ flags: 'absent' });
    // haze 0.3 reaches the family's lowest gate (0.25) but not its own (0.35).
    const polish = {
      ...r.families.polish,
      gate: { scoreThreshold: 0.25, source: 'model' as const },
      kindGates: { scratch: { scoreThreshold: 0.25, source: 'model' as const }, haze: { scoreThreshold: 0.35, source: 'model' as const } },
    };
    const flagged = withGateFlags({ ...r, families: { ...r.families, polish } });
    expect(flagged.families.polish.findings.map((f) => f.belowGate)).toEqual([false, true]);
  });
});
