// Browser helpers for the e2e tests: Debian's chromium driven by playwright-core.
//
// Chromium runs headless as root in CI, with fake camera and microphone devices (the media
// tests need them) and without the background networking that a closed network refuses.

import fs from 'node:fs';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.ODEON_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

export function chromiumMissing() {
  return fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;
}

/** Launches chromium; returns { browser, page, consoleErrors }. */
export async function openPage(url) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  await page.goto(url);
  return { browser, page, consoleErrors };
}
