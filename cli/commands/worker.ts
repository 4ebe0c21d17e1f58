import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('worker')
    .description('Run one worker process: takes inspection jobs from Redis, runs the models, writes reports. Start as many as you like.')
    .action(async () => {
      const { loadConfig } = await import('../../core/config.schema.js');
      const { startWorkerProcess } = await import('../../workers/main.js');
      const { closeOnSignals } = await import('../../core/shutdown.js');
      const config = loadConfig();
      const proc = await startWorkerProcess(config);
      proc.log.info({ queuePrefix: config.queuePrefix, database: config.database.kind }, 'worker ready');
      closeOnSignals(proc.close, proc.log, config.shutdownTimeoutMs);
    });
}
