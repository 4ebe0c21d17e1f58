import { describe, expect, it } from 'vitest';
import { testApp } from '../api/support/test-app.js';
import { sqliteTestDatabase } from '../core/support/databases.js';
import { redisAnswers, skipUnless } from '../core/support/env.js';
import { openBrowser, skipWithoutChromium } from './support/chromium.js';
import { factFindings, seedGated } from './support/gated.js';

const redisUp = await redisAnswers();

describe.skipIf(skipWithoutChromium() || skipUnless(redisUp, 'Redis'))('review page in Chromium: below-gate findings listed apart', () => {
  it('shows the haze under its own heading with score and gate, and adds it as a missed defect in one click', async () => {
    const tdb = await sqliteTestDatabase();
    const t = await testApp(tdb);
    const browser = await openBrowser({ width: 1280, height: 900 });
    try {
      const inspector = await t.createKey('inspector', 'ines');
      const { id } = await seedGated(tdb.handle.db, t, 'P-GATE-UI', 'stated');
      const base = await t.app.listen({ host: '127.0.0.1', port: 0 });
      const { page, problems } = browser;
      await page.goto(`${base}/review#${id}`);
      await page.locator('#login-key').fill(inspector.key);
      await page.keyboard.press('Enter');
      await page.locator('#below-gate tbody tr').first().waitFor();
      expect(await page.locator('#findings tbody tr').count()).toBe(2);
      const row = page.locator('#below-gate tbody tr');
      expect(await row.count()).toBe(1);
      expect(await row.locator('td').nth(1).textContent()).toBe('polish · haze');
      expect(await row.locator('td').nth(3).textContent()).toBe('0.3 < 0.6');
      expect(await page.locator('.stage rect.below').count()).toBe(1);
      await row.locator('button.add-below').click();
      await page.locator('#below-gate tbody tr.added').waitFor();
      expect(await page.locator('#added li').count()).toBe(1);
      expect(await factFindings(tdb.handle.db, id)).toEqual(['polish/haze', 'polish/scratch', 'porosity/gas_void']);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      await t.close();
      await tdb.drop();
    }
  }, 120_000);
});
