import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../datasets/adapters/source.js';
import { checkDataset, formatCheckProblem, type CheckResult } from '../../datasets/check.js';
import { loadManifest, ManifestParseError } from '../../datasets/manifest-io.js';
import type { ManifestEntry } from '../../datasets/manifest.schema.js';
import { fillRect, greyPng, writeBytes } from '../fixtures/datasets/images.js';
import { editManifestLine, makeGoodDatasetFolder } from '../fixtures/datasets/manifest-folder.js';

const run = promisify(execFile);
let tmp: string;
let folderCount = 0;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'loupe-check-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function goodFolder(): Promise<string> {
  const dir = join(tmp, `ds-${folderCount++}`);
  await makeGoodDatasetFolder(dir);
  return dir;
}

function errorLines(result: CheckResult): string[] {
  return result.problems.filter((p) => p.severity === 'error').map(formatCheckProblem);
}

/** The folder is refused and every error points at `line`, one of them matching `message`. */
function expectRefusedAt(result: CheckResult, line: number, message: RegExp): void {
  expect(result.ok).toBe(false);
  const errors = result.problems.filter((p) => p.severity === 'error');
  expect(errors.map((p) => p.line)).toEqual(errors.map(() => line));
  expect(errorLines(result).some((l) => message.test(l)), errorLines(result).join('\n')).toBe(true);
}

describe('dataset check', () => {
  it('passes a good folder, with and without --deep', async () => {
    const dir = await goodFolder();
    for (const deep of [false, true]) {
      const result = await checkDataset(dir, { deep });
      expect(result.problems).toEqual([]);
      expect(result.ok).toBe(true);
      expect(result.entries).toHaveLength(4);
    }
  });

  it('refuses a file that is not an image', async () => {
    const dir = await goodFolder();
    await writeFile(join(dir, 'images/s-001.jpg'), 'this is not a JPEG');
    expectRefusedAt(await checkDataset(dir), 2, /^manifest\.jsonl:2: images\/s-001\.jpg: not a readable image/);
  });

  it('refuses a truncated JPEG when decoding fully', async () => {
    const dir = await goodFolder();
    const path = join(dir, 'images/c-000.jpg');
    await truncate(path, Math.floor((await readFile(path)).length * 0.6));
    expectRefusedAt(await checkDataset(dir, { deep: true }), 3, /^manifest\.jsonl:3: images\/c-000\.jpg: image does not decode/);
  });

  it('refuses a missing image', async () => {
    const dir = await goodFolder();
    await rm(join(dir, 'images/mt-000.jpg'));
    expectRefusedAt(await checkDataset(dir), 4, /^manifest\.jsonl:4: images\/mt-000\.jpg: file not found$/);
  });

  it('refuses a mask whose size differs from its image', async () => {
    const dir = await goodFolder();
    await writeBytes(join(dir, 'masks/mt-000.porosity.png'), await greyPng(new Uint8Array(10 * 10).fill(255), 10, 10));
    expectRefusedAt(await checkDataset(dir), 4, /masks\.porosity is 10x10 but the image is 64x48/);
  });

  it('refuses a mask with values other than 0 and 255 when decoding fully', async () => {
    const dir = await goodFolder();
    const pixels = new Uint8Array(64 * 48);
    fillRect(pixels, 64, 10, 10, 14, 14, 128);
    await writeBytes(join(dir, 'masks/s-000.porosity.png'), await greyPng(pixels, 64, 48));
    expect((await checkDataset(dir)).ok).toBe(true);
    expectRefusedAt(await checkDataset(dir, { deep: true }), 1, /masks\.porosity has values other than 0 and 255 \(e\.g\. 128\)/);
  });

  it('refuses a box outside the image or reversed', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 4, (e) => ({ ...e, defects: [{ ...e.defects[0], bbox: [40, 30, 70, 36] }] }));
    await editManifestLine(dir, 1, (e) => ({ ...e, defects: e.defects.map((d, i) => (i === 0 ? { ...d, bbox: [14, 10, 10, 14] } : d)) }));
    const result = await checkDataset(dir);
    expect(errorLines(result)).toEqual([
      'manifest.jsonl:1: defects[0].bbox [14,10,10,14] is empty or reversed (needs x0<x1 and y0<y1)',
      'manifest.jsonl:4: defects[0].bbox [40,30,70,36] lies outside the 64x48 image',
    ]);
  });

  it('reports a bad JSON line by number and still checks the others', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 2, '{"schemaVersion":1,"file":');
    await rm(join(dir, 'images/mt-000.jpg'));
    const result = await checkDataset(dir);
    expect(result.ok).toBe(false);
    expect(result.entries).toHaveLength(3);
    expect(errorLines(result)[0]).toMatch(/^manifest\.jsonl:2: not valid JSON/);
    expect(errorLines(result)[1]).toBe('manifest.jsonl:4: images/mt-000.jpg: file not found');
  });

  it('names the schema path of a wrong key', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 3, (e) => ({ ...e, labels: { ...e.labels, porosity: 'yes' } }));
    expectRefusedAt(await checkDataset(dir), 3, /^manifest\.jsonl:3: images\/c-000\.jpg: labels\.porosity: /);
  });

  it('refuses a mislabelled entry: a defect of a family labelled false', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 4, (e) => ({ ...e, labels: { ...e.labels, porosity: false } }));
    expectRefusedAt(
      await checkDataset(dir),
      4,
      /^manifest\.jsonl:4: labels\.porosity is false but the entry has 1 porosity defect\(s\) and masks\.porosity$/,
    );
  });

  it('refuses a true label with no defect or mask unless the set labels whole images', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 2, (e) => ({ ...e, labels: { ...e.labels, polish: true } }));
    expectRefusedAt(await checkDataset(dir), 2, /labels\.polish is true but there is no polish defect or mask/);
    await editManifestLine(dir, 2, (e) => ({ ...e, labelLevel: 'image' }));
    expect((await checkDataset(dir)).ok).toBe(true);
  });

  it('refuses a kind that belongs to another family', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 1, (e) => ({ ...e, defects: e.defects.map((d, i) => (i === 1 ? { ...d, kind: 'pinhole' } : d)) }));
    expectRefusedAt(await checkDataset(dir), 1, /defects\[1\] has family polish but kind pinhole belongs to porosity/);
  });

  it('refuses gaps that the stones do not give, within a thousandth of a millimetre', async () => {
    const dir = await goodFolder();
    const withGaps = (gapsMm: number[]) => (e: ManifestEntry) => ({ ...e, stoneRow: { ...e.stoneRow!, gapsMm } });
    await editManifestLine(dir, 1, withGaps([0.1005, 0.1395]));
    expect((await checkDataset(dir)).ok).toBe(true);
    await editManifestLine(dir, 1, withGaps([0.1, 0.12]));
    expectRefusedAt(await checkDataset(dir), 1, /stoneRow\.gapsMm\[1\] is 0\.12 but stones 1 and 2 are 0\.1400 mm apart/);
  });

  it('refuses a file listed twice, pointing at the first listing', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 3, (e) => ({ ...e, file: 'images/s-001.jpg' }));
    expectRefusedAt(await checkDataset(dir), 3, /images\/s-001\.jpg: listed again \(first on line 2\)/);
  });

  it('refuses a path outside the folder without reading it', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 2, (e) => ({ ...e, file: '../../etc/passwd' }));
    expectRefusedAt(await checkDataset(dir), 2, /file "\.\.\/\.\.\/etc\/passwd" is not a relative path inside the dataset folder/);
  });

  it('refuses an empty or missing manifest', async () => {
    const dir = await goodFolder();
    await writeFile(join(dir, 'manifest.jsonl'), '\n');
    expect(errorLines(await checkDataset(dir))).toEqual(['manifest.jsonl: has no entries']);
    await rm(join(dir, 'manifest.jsonl'));
    expect(errorLines(await checkDataset(dir))).toEqual([`manifest.jsonl: not found in ${dir}`]);
  });

  it('gives training a reader that throws with every bad line', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 2, 'nope');
    await expect(loadManifest(dir)).rejects.toThrow(ManifestParseError);
    await expect(loadManifest(dir)).rejects.toThrow(/manifest\.jsonl:2: not valid JSON/);
  });

  it('makes `loupe dataset check` exit 1 with one line per problem', async () => {
    const dir = await goodFolder();
    await editManifestLine(dir, 4, (e) => ({ ...e, labels: { ...e.labels, porosity: false } }));
    await writeFile(join(dir, 'images/s-001.jpg'), 'garbage');
    const result = await run(process.execPath, [join(REPO_ROOT, 'cli/bin/loupe.js'), 'dataset', 'check', dir]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^manifest\.jsonl:2: images\/s-001\.jpg: not a readable image/);
    expect(lines[1]).toBe('manifest.jsonl:4: labels.porosity is false but the entry has 1 porosity defect(s) and masks.porosity');
    expect(lines[2]).toBe(`${dir}: 2 problem(s) in 4 parsed entries`);
  });
});
