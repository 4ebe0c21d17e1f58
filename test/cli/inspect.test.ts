import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { InspectionReportSchema } from '../../pipeline/report.schema.js';

const ROOT = join(import.meta.dirname, '../..');
const LOUPE = join(ROOT, 'cli/bin/loupe.js');
const PHOTO = join(ROOT, 'datasets/samples/images/s424242-000000.jpg');
const run = promisify(execFile);

describe('loupe inspect --model', () => {
  it('runs the version named, with the photo after the option (not swallowed by it)', async () => {
    const { stdout } = await run(process.execPath, [LOUPE, 'inspect', '--json', '--model', 'loupe-seg@1.3.0', PHOTO], { cwd: ROOT, timeout: 120_000 });
    const report = InspectionReportSchema.parse(JSON.parse(stdout.trim().split('\n')[0]!));
    expect(report.models.map((m) => `${m.id}@${m.version}`)).toEqual(['loupe-seg@1.3.0']);
  }, 150_000);
});
