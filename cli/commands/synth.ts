import { InvalidArgumentError, type Command } from 'commander';
import type { SynthCliOptions } from '../../datasets/synth/cli.js';
import { DEFAULT_FOV_MM } from '../../datasets/synth/options.schema.js';
import { mmRange } from '../command-line.js';

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};
const parseFovMm = (value: string) => {
  try {
    return mmRange('--fov-mm', value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};
const list = (value: string) => value.split(',').map((v) => v.trim()).filter(Boolean);

export function register(program: Command): void {
  program
    .command('synth')
    .description('Render synthetic jewelry QC photos with exact defect labels (images/, masks/, manifest.jsonl)')
    .requiredOption('--out <dir>', 'output folder')
    .requiredOption('--count <n>', 'number of images', int('--count'))
    .requiredOption('--seed <s>', 'seed (see datasets/README.md for the seed policy)', int('--seed'))
    .option('--size <px>', 'long side in pixels; the field of view (--fov-mm) is in mm, so a larger size is a finer mm/px', int('--size'), 1024)
    .option('--fov-mm <low-high>', 'field of view (image width) range in mm, drawn log-uniform; 5-10 makes macro close-ups the pieces fill or overfill', parseFovMm, [...DEFAULT_FOV_MM] as [number, number])
    .option('--workers <k>', 'worker threads (default: number of cores)', int('--workers'))
    .option('--metals <list>', 'only these metals (comma-separated)', list)
    .option('--exclude-metals <list>', 'never these metals', list)
    .option('--pieces <list>', 'only these pieces: ring_band, ring_shank, pendant', list)
    .option('--exclude-pieces <list>', 'never these pieces', list)
    .option('--backgrounds <list>', 'only these backgrounds: paper, grey_card, velvet, lightbox, tinted_card', list)
    .option('--exclude-backgrounds <list>', 'never these backgrounds', list)
    .option('--views <list>', 'only these views: top, oblique', list)
    .option('--cover-kinds', 'cycle through a fixed plan that covers every defect kind (committed samples)', false)
    .option('--contact-sheet <file>', 'also write a contact sheet of the images beside their masks')
    .option('--no-progress', 'no progress bar')
    .action(async (opts: SynthCliOptions) => {
      const { runSynthCli } = await import('../../datasets/synth/cli.js');
      await runSynthCli(opts);
    });
}
