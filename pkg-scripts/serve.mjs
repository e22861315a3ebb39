#!/usr/bin/env node
// A small static file server for the demo: serves the repository root on 127.0.0.1 so that
// /index.html, /web/, /pkg/ (the built package) and /models/ all resolve. Correct MIME types
// (application/wasm for .wasm, so WebAssembly.instantiateStreaming works), Content-Length (so the
// demo can show download progress), byte ranges, no caching, and cross-origin isolation headers
// (COOP/COEP) so a threaded/worker build can use SharedArrayBuffer later.
//
//   node pkg-scripts/serve.mjs [--port N] [--host H] [--root DIR]     (PORT env also works; 0 = any)
//
// Also importable: `const { url, close } = await startServer({ port: 0 })`; `onRequest({ method,
// path, range })` is called for every file request (tests count model downloads with it).
// .git, target/ and node_modules/ are not served, except the browser bundles of the demo's
// plotting library (EXPOSED below).

import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '..');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wgsl': 'text/plain; charset=utf-8',
  '.gguf': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

// Files under hidden folders that the demo page loads: the plotting library (npm dependencies
// @observablehq/plot and d3, browser bundles), lazily, when a chart is first drawn.
const EXPOSED = ['node_modules/d3/dist/', 'node_modules/@observablehq/plot/dist/'].map((p) => p.split('/').join(sep));

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}

/** Start the server. Resolves to { server, port, url, close() }. */
export function startServer({
  root = REPO_ROOT,
  port = 8080,
  host = '127.0.0.1',
  log = false,
  hidden = ['.git', 'target', 'node_modules'],
  exposed = EXPOSED,
  onRequest = null,
  mounts = {},
} = {}) {
  const rootDir = resolve(root);
  // Extra folders served under a URL prefix (e.g. { '/vendor/onnxruntime-web/': '<dir>' }, for
  // bench:peers): the prefix maps to the folder, with the same path checks as the root.
  const mountList = Object.entries(mounts).map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : `${prefix}/`, resolve(dir)]);
  const server = createServer(async (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(res, 405, 'method not allowed\n', { Allow: 'GET, HEAD' });
      }
      const url = new URL(req.url, 'http://localhost');
      let rel;
      try {
        rel = decodeURIComponent(url.pathname);
      } catch {
        return send(res, 400, 'bad path\n');
      }
      if (rel.includes('\0')) return send(res, 400, 'bad path\n');
      const mount = mountList.find(([prefix]) => rel.startsWith(prefix));
      let file;
      if (mount) {
        const [prefix, dir] = mount;
        file = normalize(join(dir, rel.slice(prefix.length)));
        if (file !== dir && !file.startsWith(dir + sep)) return send(res, 403, 'forbidden\n');
      } else {
        file = normalize(join(rootDir, rel));
        if (file !== rootDir && !file.startsWith(rootDir + sep)) return send(res, 403, 'forbidden\n');
        // Never serve VCS internals or build caches (top-level names in `hidden`), except the
        // `exposed` paths.
        const relPath = file.slice(rootDir.length + 1);
        const top = relPath.split(sep)[0];
        if (hidden.includes(top) && !exposed.some((p) => relPath.startsWith(p))) return send(res, 404, 'not found\n');
      }
      if (onRequest) onRequest({ method: req.method, path: url.pathname, range: req.headers.range || null });

      let st = await stat(file).catch(() => null);
      if (st && st.isDirectory()) {
        if (!url.pathname.endsWith('/')) {
          res.writeHead(301, { Location: url.pathname + '/' + url.search });
          return res.end();
        }
        file = join(file, 'index.html');
        st = await stat(file).catch(() => null);
      }
      if (!st || !st.isFile()) return send(res, 404, `not found: ${url.pathname}\n`);

      const headers = {
        'Content-Type': MIME[extname(file).toLowerCase()] || 'application/octet-stream',
        'Cache-Control': 'no-cache',
        'Accept-Ranges': 'bytes',
        'Last-Modified': st.mtime.toUTCString(),
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
        'Cross-Origin-Resource-Policy': 'same-origin',
        'X-Content-Type-Options': 'nosniff',
      };
      let start = 0;
      let end = st.size - 1;
      let status = 200;
      const range = req.headers.range && /^bytes=(\d*)-(\d*)$/.exec(req.headers.range);
      if (range && (range[1] !== '' || range[2] !== '')) {
        if (range[1] === '') {
          start = Math.max(0, st.size - Number(range[2]));
        } else {
          start = Number(range[1]);
          if (range[2] !== '') end = Math.min(end, Number(range[2]));
        }
        if (start > end || start >= st.size) {
          return send(res, 416, 'range not satisfiable\n', { 'Content-Range': `bytes */${st.size}` });
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
      }
      headers['Content-Length'] = String(st.size === 0 ? 0 : end - start + 1);
      res.writeHead(status, headers);
      if (log) console.log(`${status} ${req.method} ${url.pathname}`);
      if (req.method === 'HEAD' || st.size === 0) return res.end();
      const stream = createReadStream(file, { start, end });
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    } catch (e) {
      if (!res.headersSent) send(res, 500, `internal error: ${e && e.message}\n`);
      else res.destroy();
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolvePromise({
        server,
        port: addr.port,
        url: `http://${shownHost}:${addr.port}/`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}

function parseArgs(argv) {
  const fromEnv = process.env.PORT !== undefined && process.env.PORT !== '';
  const opts = { port: fromEnv ? Number(process.env.PORT) : 8080, explicitPort: fromEnv, host: '127.0.0.1', root: REPO_ROOT };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port' || a === '-p') {
      opts.port = Number(next());
      opts.explicitPort = true;
    }
    else if (a === '--host') opts.host = next();
    else if (a === '--root') opts.root = resolve(next());
    else if (a === '--log') opts.log = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: node pkg-scripts/serve.mjs [--port N] [--host 127.0.0.1] [--root DIR] [--log]');
      process.exit(0);
    } else throw new Error(`unknown argument: ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error(`bad port: ${opts.port}`);
  return opts;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`serve: ${e.message}`);
    process.exit(2);
  }
  startServer(opts)
    .catch((e) => {
      // The default port is taken: take any free one rather than fail (an explicit port fails).
      if (e.code === 'EADDRINUSE' && !opts.explicitPort) {
        console.log(`serve: port ${opts.port} is in use, using a free port instead`);
        return startServer({ ...opts, port: 0 });
      }
      throw e;
    })
    .then(
    ({ url }) => {
      console.log(`serve: serving ${opts.root}`);
      console.log(`tritium demo: ${url}   (Ctrl-C to stop)`);
    },
    (e) => {
      console.error(`serve: cannot listen on ${opts.host}:${opts.port}: ${e.message}` +
        (e.code === 'EADDRINUSE' ? ' (port in use; try --port 0 or PORT=8081)' : ''));
      process.exit(1);
    },
  );
}
