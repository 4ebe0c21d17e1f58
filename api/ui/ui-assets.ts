import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * The pages' scripts are plain TypeScript in `client/`, bundled once at start-up by esbuild (already installed as
 * tsx's compiler) into one ES module per page: no framework, no CDN, no build step to forget before `serve`.
 */
const CLIENT_DIR = fileURLToPath(new URL('./client/', import.meta.url));
const CSS_FILE = fileURLToPath(new URL('./ui.css', import.meta.url));

export interface UiAssets {
  /** `review.js`, `station.js`, `ui.css` → body and content type. */
  files: Map<string, { body: string; type: string }>;
}

let built: Promise<UiAssets> | null = null;

/** Built once per process (every app a test builds shares it). */
export function buildUiAssets(): Promise<UiAssets> {
  built ??= build().catch((err: unknown) => {
    built = null;
    throw err;
  });
  return built;
}

async function build(): Promise<UiAssets> {
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: { review: `${CLIENT_DIR}review.ts`, station: `${CLIENT_DIR}station.ts` },
    bundle: true,
    format: 'esm',
    target: 'es2020',
    write: false,
    outdir: '/ui',
    minify: false,
    sourcemap: false,
    logLevel: 'silent',
  });
  const files = new Map<string, { body: string; type: string }>();
  for (const f of out.outputFiles) {
    const name = f.path.split('/').pop()!;
    files.set(name, { body: f.text, type: 'text/javascript; charset=utf-8' });
  }
  files.set('ui.css', { body: await readFile(CSS_FILE, 'utf8'), type: 'text/css; charset=utf-8' });
  return { files };
}
