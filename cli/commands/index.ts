import type { Command } from 'commander';

/**
 * Each command lives in its own file and lazy-imports the folder that owns the work, so `loupe --help` stays fast
 * and a command never pulls in another's dependencies (no Redis for `inspect`, no model for `synth`).
 */
const registrars: Array<() => Promise<{ register: (program: Command) => void }>> = [];

export function registerCommands(program: Command): void {
  void program;
}
export { registrars };
