/**
 * How a kind's image score pools its verifier candidates, tried offline on `loupe eval --candidates` files:
 *   npx tsx models/eval/score-rules.ts CANDIDATES.jsonl [...]
 * prints, per file, each polish kind's AUROC (photos holding it against polish-clean photos) and the polish family's
 * (the max over kinds) under every rule in `RULES`. The pipeline's rule is `max`; the others were tried in session 13
 * (loupe-seg 1.8.0's card) and none kept.
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { POLISH_KINDS } from '../../pipeline/index.js';
import { aurocOf } from './metrics.js';
import type { KindCandidatesLine } from './run-eval.js';

type Candidate = KindCandidatesLine['candidates'][string][number];

export interface PoolRule {
  name: string;
  what: string;
  score: (candidates: readonly Candidate[]) => number;
}

const probs = (cs: readonly Candidate[]) => cs.map((c) => c[2]).sort((a, b) => b - a);
const topMean = (cs: readonly Candidate[], n: number) => {
  const p = probs(cs);
  let s = 0;
  for (let i = 0; i < n; i++) s += p[i] ?? 0;
  return s / n;
};
const median = (xs: number[]) => (xs.length === 0 ? 0 : xs.length % 2 ? xs[(xs.length - 1) / 2]! : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2);

export const RULES: readonly PoolRule[] = [
  { name: 'max', what: "the strongest candidate (the pipeline's rule)", score: (cs) => probs(cs)[0] ?? 0 },
  { name: 'top2', what: 'mean of the two strongest (a missing one counts 0)', score: (cs) => topMean(cs, 2) },
  { name: 'top3', what: 'mean of the three strongest', score: (cs) => topMean(cs, 3) },
  { name: 'max-0.5med', what: "the strongest less half the median over the photo's candidates", score: (cs) => (probs(cs)[0] ?? 0) - 0.5 * median(probs(cs)) },
  { name: 'max-med', what: 'the strongest less the median', score: (cs) => (probs(cs)[0] ?? 0) - median(probs(cs)) },
  { name: 'seg-only', what: "the strongest of the seg network's own candidates (grid points left out)", score: (cs) => probs(cs.filter((c) => c[3] !== -1))[0] ?? 0 },
];

export interface RuleRow {
  rule: string;
  /** Per polish kind, then `family` (each photo's max over the kinds' pooled scores). */
  auroc: Record<string, number | null>;
}

/** Every rule's AUROC per polish kind and for the family, on one candidates file's lines. */
export function ruleAurocs(lines: readonly KindCandidatesLine[]): RuleRow[] {
  const clean = lines.filter((l) => !l.labels.polish);
  const polish = lines.filter((l) => l.labels.polish);
  return RULES.map((rule) => {
    const pooled = (l: KindCandidatesLine, kind: string) => rule.score(l.candidates[kind] ?? []);
    const out: Record<string, number | null> = {};
    for (const kind of POLISH_KINDS) {
      out[kind] = aurocOf(lines.filter((l) => l.kinds.includes(kind)).map((l) => pooled(l, kind)), clean.map((l) => pooled(l, kind)));
    }
    const family = (l: KindCandidatesLine) => Math.max(...POLISH_KINDS.map((k) => pooled(l, k)));
    out.family = aurocOf(polish.map(family), clean.map(family));
    return { rule: rule.name, auroc: out };
  });
}

export async function readCandidates(file: string): Promise<KindCandidatesLine[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as KindCandidatesLine);
}

async function main(files: string[]): Promise<void> {
  if (files.length === 0) throw new Error('usage: npx tsx models/eval/score-rules.ts CANDIDATES.jsonl [...]');
  const cols = [...POLISH_KINDS, 'family'];
  for (const file of files) {
    const rows = ruleAurocs(await readCandidates(file));
    process.stdout.write(`\n${file}\n| rule | ${cols.join(' | ')} |\n|---|${cols.map(() => '---|').join('')}\n`);
    for (const r of rows) process.stdout.write(`| ${r.rule} | ${cols.map((c) => (r.auroc[c] === null ? '–' : r.auroc[c]!.toFixed(3))).join(' | ')} |\n`);
  }
  process.stdout.write(`\n${RULES.map((r) => `- ${r.name}: ${r.what}`).join('\n')}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(process.argv.slice(2));
