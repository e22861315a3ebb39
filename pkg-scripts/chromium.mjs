// Launch the system Chromium (Debian `chromium`) through playwright-core, with the flags the
// project uses everywhere (WebGPU enabled, no background traffic, new headless, no sandbox as
// root) and a fresh user-data-dir. Shared by tests/e2e and pkg-scripts/bench-wasm.mjs.

import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--no-sandbox',
  '--headless=new',
];

export function chromiumPath() {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error('Chromium not found (install Debian chromium via pkg-scripts/bootstrap, or set CHROMIUM_PATH)');
}

/**
 * Launch Chromium with a fresh profile. Resolves to { context, close() }; `context` is a
 * Playwright BrowserContext (pages: `await context.newPage()`).
 */
export async function launchChromium({ viewport = { width: 1200, height: 900 }, extraArgs = [] } = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'tritium-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath(),
    headless: true,
    args: [...CHROMIUM_FLAGS, ...extraArgs],
    viewport,
    deviceScaleFactor: 1,
  });
  return {
    context,
    async close() {
      try {
        await context.close();
      } finally {
        rmSync(userDataDir, { recursive: true, force: true });
      }
    },
  };
}

/** Collect console errors and uncaught page errors of a page (for assertions and diagnostics). */
export function watchPage(page) {
  const log = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') log.push(`console.${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => log.push(`pageerror: ${err.message}`));
  return log;
}
