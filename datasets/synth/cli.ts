import { z } from 'zod';
import { METALS, MetalSchema, PIECES, PieceSchema } from '../manifest.schema.js';
import { writeContactSheet } from './contact-sheet.js';
import { generateDataset } from './generate.js';
import { BACKGROUNDS, BackgroundSchema, DEFAULT_FOV_MM, VIEWS, ViewSchema, type Domain } from './options.schema.js';

export interface SynthCliOptions {
  out: string;
  count: number;
  seed: number;
  size: number;
  workers?: number;
  metals?: string[];
  excludeMetals?: string[];
  pieces?: string[];
  excludePieces?: string[];
  backgrounds?: string[];
  excludeBackgrounds?: string[];
  views?: string[];
  /** Field of view range in mm; the default is `DEFAULT_FOV_MM`. */
  fovMm?: [number, number];
  coverKinds: boolean;
  contactSheet?: string;
  progress: boolean;
}

/** Restrict-then-exclude, validated against the known names; an empty result is an error, never a silent default. */
function choose<T extends string>(what: string, all: readonly T[], schema: z.ZodType<T>, only?: readonly string[], exclude?: readonly string[]): T[] {
  const parse = (names: readonly string[]) => names.map((n) => {
    const r = schema.safeParse(n);
    if (!r.success) throw new Error(`unknown ${what} "${n}" (known: ${all.join(', ')})`);
    return r.data;
  });
  const base = only ? parse(only) : [...all];
  const drop = new Set(exclude ? parse(exclude) : []);
  const out = base.filter((x) => !drop.has(x));
  if (out.length === 0) throw new Error(`no ${what} left after --${what} / --exclude-${what}`);
  return out;
}

/** The options' names as readonly lists (the eval suite's sets are written so). */
type DomainOptions = { readonly [K in 'metals' | 'excludeMetals' | 'pieces' | 'excludePieces' | 'backgrounds' | 'excludeBackgrounds' | 'views']?: readonly string[] } & {
  readonly fovMm?: readonly [number, number];
};

/** The domain `loupe synth` draws from for these options: each list restricted, then excluded, then checked. */
export function synthDomain(opts: DomainOptions): Domain {
  return {
    metals: choose('metals', METALS, MetalSchema, opts.metals, opts.excludeMetals),
    pieces: choose('pieces', PIECES, PieceSchema, opts.pieces, opts.excludePieces),
    backgrounds: choose('backgrounds', BACKGROUNDS, BackgroundSchema, opts.backgrounds, opts.excludeBackgrounds),
    views: choose('views', VIEWS, ViewSchema, opts.views),
    fovMm: opts.fovMm ? [opts.fovMm[0], opts.fovMm[1]] : [...DEFAULT_FOV_MM],
  };
}

export async function runSynthCli(opts: SynthCliOptions): Promise<void> {
  const domain = synthDomain(opts);
  const { seconds, count } = await generateDataset({
    out: opts.out,
    count: opts.count,
    seed: opts.seed,
    size: opts.size,
    ...(opts.workers ? { workers: opts.workers } : {}),
    domain,
    coverKinds: opts.coverKinds,
    progress: opts.progress,
  });
  process.stderr.write(`synth: ${count} images in ${seconds.toFixed(1)} s → ${opts.out}\n`);
  if (opts.contactSheet) {
    await writeContactSheet(opts.out, opts.contactSheet);
    process.stderr.write(`synth: contact sheet → ${opts.contactSheet}\n`);
  }
}
