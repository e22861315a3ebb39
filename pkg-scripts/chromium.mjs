// Launch the system Chromium (Debian `chromium`) through playwright-core, with the flags the
// project uses everywhere (WebGPU enabled, no background traffic, new headless, no sandbox as
// root) and a fresh user-data-dir. Shared by tests/e2e and the pkg-scripts benchmarks.

import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from './serve.mjs';

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

/**
 * Run a benchmark function in headless Chromium: serve the repository (plus `mounts`, as
 * startServer takes them), open web/bench.html, import the module at URL path `module`, call its
 * export `run` with `opts` and an `onStatus` that logs to this process's stderr, and close
 * everything. Resolves to the function's result with `browser` ("Chromium VERSION (headless)")
 * set; a page error rejects with the page's console errors appended.
 */
export async function runInBenchPage({ module, run, opts, mounts }) {
  const server = await startServer({ port: 0, ...(mounts ? { mounts } : {}) });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    const log = watchPage(page);
    page.on('console', (m) => {
      if (m.type() === 'log') console.error(`[page] ${m.text()}`);
    });
    await page.goto(`${server.url}web/bench.html`, { waitUntil: 'load' });
    const version = browser.context.browser()?.version() ?? 'unknown';
    let result;
    try {
      result = await page.evaluate(
        async ({ module, run, opts }) => {
          const m = await import(module);
          return m[run]({ ...opts, onStatus: (s) => console.log(s) });
        },
        { module, run, opts },
      );
    } catch (e) {
      throw new Error(`${e.message}\n${log.join('\n')}`);
    }
    result.browser = `Chromium ${version} (headless)`;
    return result;
  } finally {
    await browser.close();
    await server.close();
  }
}
