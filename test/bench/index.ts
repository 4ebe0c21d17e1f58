/**
 * `npm run bench`: every benchmark in one go, each a plain script that prints a table and writes JSON under bench/.
 *   npm run bench                 pipeline (12 MP photo by stage, PyTorch eager ratio) then the service
 *   npm run bench -- pipeline     one of them by name
 *   npm run bench -- pipeline --models DIR --runs 9    options after the names go to each benchmark (before its default --out, so a given --out wins)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BENCHES: Record<string, string> = {
  pipeline: 'test/bench/pipeline.bench.ts',
  service: 'test/bench/service.bench.ts',
  'casting-report': 'test/bench/casting-report.bench.ts',
};
const args = process.argv.slice(2);
const firstOption = args.findIndex((a) => a.startsWith('-'));
const wanted = firstOption < 0 ? args : args.slice(0, firstOption);
const options = firstOption < 0 ? [] : args.slice(firstOption);
const names = wanted.length ? wanted : Object.keys(BENCHES);
let failed = 0;
for (const name of names) {
  const file = BENCHES[name];
  if (!file) throw new Error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHES).join(', ')}`);
  if (!existsSync(join(ROOT, file))) continue;
  process.stdout.write(`\n== ${name} (${file})\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, file), ...options, '--out', join(ROOT, 'bench', `${name}.json`)], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
