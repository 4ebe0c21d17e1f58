import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { IN_CI } from '../../core/support/env.js';

/** Debian's Chromium, launched the way test/reports does: headless, no sandbox, a fresh profile per context. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumThere = fs.existsSync(CHROMIUM);

/** True when the browser suites should skip (never in CI, where a missing Chromium fails instead). */
export function skipWithoutChromium(): boolean {
  if (chromiumThere || IN_CI) return false;
  console.warn(`[skip] no Chromium at ${CHROMIUM} (set CHROMIUM_PATH); CI fails instead of skipping`);
  return true;
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors seen so far. */
  problems: string[];
  close(): Promise<void>;
}

export async function openBrowser(viewport: { width: number; height: number }): Promise<BrowserSession> {
  const profileDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'loupe-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport,
    hasTouch: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return {
    context,
    page,
    problems,
    async close() {
      await context.close().catch(() => {});
      await fsp.rm(profileDir, { recursive: true, force: true });
    },
  };
}
