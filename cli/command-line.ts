/** What the commands share for reading their options and writing a command back out (a gallery records its own). */

/** The flag's value as a positive integer; undefined when the flag was not given. */
export function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

/** The flag's value as an mm range `LOW-HIGH` with 1 <= LOW <= HIGH <= 200 (a field of view). */
export function mmRange(flag: string, value: string): [number, number] {
  const m = /^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$/.exec(value);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!(lo >= 1 && hi <= 200 && lo <= hi)) throw new Error(`${flag} must be LOW-HIGH in mm with 1 <= LOW <= HIGH <= 200 (e.g. 5-10), got "${value}"`);
  return [lo, hi];
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
