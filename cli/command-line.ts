/** What the commands share for reading their options and writing a command back out (a gallery records its own). */

/** The flag's value as a positive integer; undefined when the flag was not given. */
export function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got "${value}"`);
  return n;
}

/** One argument as a POSIX shell would need it quoted to pass it through unchanged. */
export function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandText(args: readonly string[]): string {
  return ['npx loupe', ...args.map(shellWord)].join(' ');
}
