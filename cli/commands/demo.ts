import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('demo')
    .description('Start Redis (if needed), the API and a worker; upload the committed samples through HTTP; print the verdicts')
    .option('--once', 'exit when every sample has its report (0) or one did not (non-zero), instead of serving until Ctrl-C')
    .option('--timeout <seconds>', 'how long to wait for the reports', '300')
    .action(async (opts: { once?: boolean; timeout: string }) => {
      const { runDemo } = await import('../../api/demo/demo.js');
      process.exitCode = await runDemo({ once: Boolean(opts.once), timeoutMs: Number(opts.timeout) * 1000 });
    });
}
