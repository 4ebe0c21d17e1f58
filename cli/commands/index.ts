import type { Command } from 'commander';

/**
 * Each command lives in its own file, whose action lazy-imports the folder that owns the work, so `loupe --help`
 * stays fast and a command never pulls in another's dependencies (no Redis for `inspect`, no model for `synth`).
 * Add one line per command file.
 */
const commandFiles: Array<{ register: (program: Command) => void }> = [
  await import('./dataset.js'),
  await import('./inspect.js'),
  await import('./eval.js'),
  await import('./eval-suite.js'),
  await import('./calibrate-gates.js'),
  await import('./synth.js'),
  await import('./serve.js'),
  await import('./worker.js'),
  await import('./demo.js'),
  await import('./keys.js'),
  await import('./audit.js'),
  await import('./report.js'),
  await import('./seed-history.js'),
  await import('./train.js'),
  await import('./models.js'),
  await import('./watch.js'),
];

export function registerCommands(program: Command): void {
  for (const file of commandFiles) file.register(program);
}
