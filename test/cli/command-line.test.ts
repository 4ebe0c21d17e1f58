import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { galleryCommand, positiveInt } from '../../cli/command-line.js';

// A gallery's index records the command that remakes it; a reader pastes it into a shell.
describe('the command a gallery records', () => {
  const base = { models: '/repo/models', visibility: false, failuresPerKind: '3' };

  it("spells out the shared options after the command's own ones, --models only when not the default", () => {
    expect(galleryCommand(['eval-suite', '--sets', '/data', '--out', 'eval'], { ...base, model: 'loupe-seg@1.12.0', failures: 'failures' }, '/repo/models')).toBe(
      'npx loupe eval-suite --sets /data --out eval --model loupe-seg@1.12.0 --failures failures --failures-per-kind 3',
    );
    expect(galleryCommand(['eval'], { ...base, models: '/tmp', visibility: true, failures: 'f' }, '/repo/models')).toBe(
      'npx loupe eval --models /tmp --visibility --failures f --failures-per-kind 3',
    );
  });

  it('quotes arguments so a shell passes them through unchanged', () => {
    const awkward = "/data/Bob's photos";
    const text = galleryCommand(['eval', '--data', awkward], { ...base, failures: 'out dir' }, '/repo/models');
    const words = execFileSync('sh', ['-c', `printf '%s\\n' ${text.replace(/^npx loupe /, '')}`], { encoding: 'utf8' }).trim().split('\n');
    expect(words).toEqual(['eval', '--data', awkward, '--failures', 'out dir', '--failures-per-kind', '3']);
  });

  it('refuses a count that is not a positive integer, and passes an absent flag through', () => {
    expect(positiveInt('--limit', '12')).toBe(12);
    expect(positiveInt('--limit', undefined)).toBeUndefined();
    for (const bad of ['0', '-3', '2.5', 'ten']) expect(() => positiveInt('--limit', bad)).toThrow('--limit must be a positive integer');
  });
});
