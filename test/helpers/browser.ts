// Debian's Chromium driven by playwright-core. Where it is missing the browser
// tests are skipped and say so, unless SWITCHBOARD_REQUIRE_ALL=1 (set by
// .ci/run), which turns the skip into a failure.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

export function requireOrSkip(): boolean {
  if (haveChromium) return true;
  if (process.env.SWITCHBOARD_REQUIRE_ALL === '1') {
    throw new Error(`${CHROMIUM} is missing and SWITCHBOARD_REQUIRE_ALL=1: install Debian's chromium`);
  }
  console.warn(`skipping browser tests: ${CHROMIUM} not found (apt-get install chromium)`);
  return false;
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Without these, Chromium keeps trying to reach Google's hosts on this closed network.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
