/**
 * `npm run bench`: every benchmark in one go, each a plain script that prints a table and writes JSON under bench/.
 *   npm run bench                 pipeline (12 MP photo by stage, PyTorch eager ratio) then the service
 *   npm run bench -- pipeline     one of them by name
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
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length ? wanted : Object.keys(BENCHES);
let failed = 0;
for (const name of names) {
  const file = BENCHES[name];
  if (!file) throw new Error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHES).join(', ')}`);
  if (!existsSync(join(ROOT, file))) continue;
  process.stdout.write(`\n== ${name} (${file})\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, file), '--out', join(ROOT, 'bench', `${name}.json`)], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
