import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (apt-get install chromium; .ci/run installs it). */
const CHROMIUM = '/usr/bin/chromium';

/**
 * `it`, or `it.skip` saying why where there is no browser: decided once, when the test file loads, so a
 * machine without Chromium skips the browser tests instead of failing them.
 */
export function itWithBrowser(file: string): jest.It {
  if (existsSync(CHROMIUM)) return it;
  console.warn(`${file}: skipping the browser test: ${CHROMIUM} is missing (apt-get install chromium)`);
  return it.skip;
}

/** Headless Chromium with the flags this machine needs (no sandbox as root, no GPU, no background calls). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
