/**
 * Playwright against a running `jupyter lab` (started by tests/browser/test_lab.py, which
 * sets KALE_LIKE_LAB_URL and KALE_LIKE_ROOT) in Debian's headless Chromium.
 */
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.ts',
  outputDir: '../../test-output/playwright',
  timeout: 120_000,
  expect: { timeout: 30_000 },
  workers: 1,
  // The specs share one lab and its notebooks (serial): a retry would start from changed files.
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: process.env.KALE_LIKE_LAB_URL ?? 'http://127.0.0.1:8888',
    headless: true,
    viewport: { width: 1440, height: 900 },
    video: 'off',
    trace: 'off',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.KALE_LIKE_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  }
});
