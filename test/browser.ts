// Shared by the browser tests: the Chromium they run in and the stroke they draw.
import { existsSync } from 'node:fs';
import packagedChromium from '@sparticuz/chromium';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Launch the headless Chromium that the @sparticuz/chromium npm package ships (it unpacks it into a
 * temporary folder: no Debian package, no root), or the binary NABLA_CHROMIUM names.
 * NOTE: fail, never skip: a missing browser must not turn the browser tests silently green.
 */
export async function launchChromium(): Promise<Browser> {
  const path = process.env.NABLA_CHROMIUM ?? await packagedChromium.executablePath();
  if (!existsSync(path)) {
    throw new Error(
      `Chromium not found at ${path}: the browser tests need it. npm install brings it (@sparticuz/chromium); ` +
      'or set NABLA_CHROMIUM to a Chromium binary.',
    );
  }
  return chromium.launch({ executablePath: path, args: ['--no-sandbox'] });
}

/** A "1" on the drawing pad: one vertical stroke; resolves when the page has predicted it. */
export async function drawOne(page: Page): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!;
  await page.mouse.move(box.x + 145, box.y + 45);
  await page.mouse.down();
  for (let i = 1; i <= 12; i++) await page.mouse.move(box.x + 140 + i * 0.5, box.y + 45 + i * 16);
  await page.mouse.up();
  await page.waitForSelector('#predicted[data-fresh="true"]');
}
