import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('serve')
    .description('Run the HTTP API (upload, status, reports, overlays, /docs, /metrics). Configured by environment variables.')
    .option('--print-config', 'print the parsed configuration and exit')
    .option('--env-help', 'list every environment variable with its default and exit')
    .action(async (opts: { printConfig?: boolean; envHelp?: boolean }) => {
      const { loadConfig, configDocs, redactedConfig } = await import('../../core/config.schema.js');
      if (opts.envHelp) {
        for (const d of configDocs()) console.log(`${d.name}${d.default ? ` (default ${d.default})` : ''}\n    ${d.description}`);
        return;
      }
      const config = loadConfig();
      if (opts.printConfig) {
        console.log(JSON.stringify(redactedConfig(config), null, 2));
        return;
      }
      const { startServer } = await import('../../api/server.js');
      const { closeOnSignals } = await import('../../core/shutdown.js');
      const server = await startServer(config);
      server.app.log.info({ url: server.url, docs: `${server.url}/docs`, database: config.database.kind }, 'API listening');
      closeOnSignals(server.close, server.app.log, config.shutdownTimeoutMs);
    });
}
