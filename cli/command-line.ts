import { FOV_MM_LIMITS, FovMmSchema } from '../datasets/synth/options.schema.js';

/** What the commands share for reading their options and writing a command back out (a gallery records its own). */

/** The flag's value as a positive integer; undefined when the flag was not given. */
export function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

/** The flag's value as a field of view range `LOW-HIGH` in mm, held to the generator's own schema (`FovMmSchema`). */
export function mmRange(flag: string, value: string): [number, number] {
  const m = /^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$/.exec(value);
  const range = m ? FovMmSchema.safeParse([Number(m[1]), Number(m[2])]) : null;
  if (!range?.success) {
    const { min, max } = FOV_MM_LIMITS;
    throw new Error(`${flag} must be LOW-HIGH in mm with ${min} <= LOW <= HIGH <= ${max} (e.g. 5-10), got "${value}"`);
  }
  return range.data;
}

/** One argument as a POSIX shell would need it quoted to pass it through unchanged. */
export function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandText(args: readonly string[]): string {
  return ['npx loupe', ...args.map(shellWord)].join(' ');
}

/** The options every gallery-writing command records the same way. */
export interface GalleryCommandOptions {
  model?: string;
  models: string;
  visibility: boolean;
  failures?: string;
  failuresPerKind: string;
}

/**
 * The command that remakes a failure gallery, recorded in its index: `args` (the command and its own options), then
 * the options every such command shares, spelt out with their defaults.
 */
export function galleryCommand(args: readonly string[], o: GalleryCommandOptions, defaultModelsDir: string): string {
  const all = [...args];
  if (o.model) all.push('--model', o.model);
  if (o.models !== defaultModelsDir) all.push('--models', o.models);
  if (o.visibility) all.push('--visibility');
  all.push('--failures', o.failures ?? '', '--failures-per-kind', o.failuresPerKind);
  return commandText(all);
}
