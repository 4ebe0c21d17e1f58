import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';

const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url));

interface InspectOptions {
  profile: string;
  profiles?: string;
  mmPerPx?: string;
  json?: boolean;
  overlay?: string;
  models: string;
  model?: string[];
  view?: string;
  metal?: string;
  expectedStones?: string;
}

function positive(name: string, value: string | undefined, integer = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (!integer && n === 0) || (integer && !Number.isInteger(n))) {
    throw new Error(`${name} must be a ${integer ? 'non-negative integer' : 'positive number'}, got "${value}"`);
  }
  return n;
}

async function run(photos: string[], options: InspectOptions): Promise<number> {
  const { readFile, mkdir, writeFile } = await import('node:fs/promises');
  const { basename, join, extname } = await import('node:path');
  const pipeline = await import('../../pipeline/index.js');
  const { formatSummary } = await import('../../pipeline/summary.js');

  const mmPerPx = positive('--mm-per-px', options.mmPerPx);
  const expectedStones = positive('--expected-stones', options.expectedStones, true);
  const profiles = pipeline.loadProfiles({ overridePath: options.profiles });
  const profile = profiles.get(options.profile, options.metal);
  const registry = await pipeline.createModelRegistry(options.models);
  const pins = options.model?.map((spec) => {
    const [id, version] = spec.split('@');
    return { id: id!, version: version || undefined };
  });
  if (options.overlay) await mkdir(options.overlay, { recursive: true });

  let failures = 0;
  try {
    for (const file of photos) {
      const lease = await registry.lease(pins);
      try {
        const bytes = await readFile(file);
        const report = await pipeline.inspect(
          bytes,
          { mmPerPx, view: options.view, metal: options.metal, expectedStones },
          profile,
          { models: lease.models },
        );
        if (options.json) process.stdout.write(`${JSON.stringify({ file, ...report })}\n`);
        else process.stdout.write(`${formatSummary(file, report)}\n`);
        if (options.overlay) {
          const out = join(options.overlay, `${basename(file, extname(file))}.overlay.png`);
          await writeFile(out, await pipeline.renderOverlay(bytes, report));
          if (!options.json) process.stdout.write(`  overlay: ${out}\n\n`);
        }
      } catch (error) {
        failures++;
        const code = pipeline.isPipelineError(error) ? error.code : 'error';
        const message = error instanceof Error ? error.message : String(error);
        if (options.json) process.stdout.write(`${JSON.stringify({ file, error: { code, message } })}\n`);
        else process.stderr.write(`${file}: ${code}: ${message}\n`);
      } finally {
        lease.release();
      }
    }
  } finally {
    await registry.close();
  }
  return failures > 0 ? 1 : 0;
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description('Inspect jewelry photos in-process (no Redis, no database) and print a verdict per photo')
    .argument('<photos...>', 'photo files (JPEG, PNG, WebP, TIFF, HEIF)')
    .option('--profile <name>', 'product profile (ring, band, pendant, or one from --profiles)', 'ring')
    .option('--profiles <file>', 'profiles override file, merged over the defaults (else $LOUPE_PROFILES)')
    .option('--mm-per-px <x>', "photo scale in mm per pixel (default: the profile's default scale)")
    .option('--json', 'print one report per photo as JSON lines')
    .option('--overlay <dir>', 'write <photo>.overlay.png files into this folder')
    .option('--models <dir>', 'models folder (models/<id>/<version>/)', DEFAULT_MODELS_DIR)
    // Repeatable rather than variadic: a variadic option would swallow the photos that follow it.
    .option('--model <id[@version]>', 'run only this model (repeatable; default: every active model)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--view <name>', 'which view the photos show (top, oblique, ...)')
    .option('--metal <id>', "metal id, selecting the profile's metal tolerances")
    .option('--expected-stones <n>', 'stones the design has')
    .action(async (photos: string[], options: InspectOptions) => {
      process.exitCode = await run(photos, options);
    });
}
