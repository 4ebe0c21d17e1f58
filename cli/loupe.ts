import { Command } from 'commander';
import { registerCommands } from './commands/index.js';

const program = new Command('loupe')
  .description('Loupe: automated final-QC inspection for fine jewelry')
  .showHelpAfterError();

registerCommands(program);

await program.parseAsync(process.argv);
