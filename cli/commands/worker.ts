import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('worker')
    .description('Run one worker process: takes inspection jobs from Redis, runs the models, writes reports. Start as many as you like.')
    .action(async () => {
      const { loadConfig } = await import('../../core/config.schema.js');
      const { startWorkerProcess } = await import('../../workers/main.js');
      const { closeOnSignals } = await import('../../core/shutdown.js');
      const { mallocTuned } = await import('../../core/malloc-tuning.js');
      const config = loadConfig();
      const proc = await startWorkerProcess(config);
      const tuned = mallocTuned();
      if (!tuned && process.platform === 'linux') {
        proc.log.warn('glibc allocator not tuned: start workers through cli/bin/tuned-node.sh (npm run worker and the Docker image do), or each 12 MP photo may take 200-300 ms longer');
      }
      proc.log.info({ queuePrefix: config.queuePrefix, database: config.database.kind, mallocTuned: tuned }, 'worker ready');
      closeOnSignals(proc.close, proc.log, config.shutdownTimeoutMs);
    });
}
