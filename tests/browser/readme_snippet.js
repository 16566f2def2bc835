// Runs the README's Web SDK snippet, as a user would paste it, in headless Chromium against a running
// Fermion over plain http (no https bridge: a request the SDK makes over https fails and is reported),
// logs one event, and prints one JSON line: console errors and warnings, page errors, failed requests
// and every request the page made to Fermion with its status.
//
// Usage: node readme_snippet.js <fermionBaseUrl> <snippetFile>
//   The snippet file is the README's block with its host and key already filled in.
// Env: FERMION_CHROMIUM (default /usr/bin/chromium).
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

const [fermionBase, snippetFile] = process.argv.slice(2);
const HOST = new URL(fermionBase).host;
const SDK_JS = path.join(__dirname, 'node_modules/@mparticle/web-sdk/dist/mparticle.js');

function servePage(snippet) {
  const page =
    '<!doctype html><html><head><meta charset="utf-8"><title>README snippet</title>' +
    '<link rel="icon" href="data:,">' +
    '<script src="/mparticle.js"></script>' +
    `<script>${snippet}</script></head><body>README snippet</body></html>`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://page').pathname;
    if (url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    } else if (url === '/mparticle.js') {
      res.writeHead(200, { 'content-type': 'application/javascript' });
      fs.createReadStream(SDK_JS).pipe(res);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const pageServer = await servePage(fs.readFileSync(snippetFile, 'utf8'));
  const browser = await chromium.launch({
    executablePath: process.env.FERMION_CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const result = { requests: [], console: [], pageErrors: [], failed: [] };
  try {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (['error', 'warning'].includes(m.type())) result.console.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => result.pageErrors.push(String(e)));
    page.on('requestfailed', (req) => {
      // An upload whose (empty) body the SDK never reads is cancelled by Chromium after its answer.
      const entry = result.requests.find((r) => r.req === req);
      if (entry && entry.status !== undefined) return;
      result.failed.push(`${req.method()} ${req.url()}: ${req.failure() && req.failure().errorText}`);
    });
    page.on('request', (req) => {
      if (new URL(req.url()).host === HOST) result.requests.push({ req, method: req.method(), url: req.url() });
    });
    page.on('response', (resp) => {
      const entry = result.requests.find((r) => r.req === resp.request());
      if (entry) entry.status = resp.status();
    });
    await page.goto(`http://127.0.0.1:${pageServer.address().port}/`);
    result.ready = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve(false), 20000);
          mParticle.ready(() => {
            clearTimeout(timer);
            mParticle.logEvent('README Click', mParticle.EventType.Navigation, { from: 'readme' });
            mParticle.upload();
            resolve(true);
          });
        })
    );
    const deadline = Date.now() + 20000;
    const uploaded = () => result.requests.some((r) => r.url.endsWith('/events') && r.status !== undefined);
    while (Date.now() < deadline && !uploaded()) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1000)); // anything the SDK does right after the upload
  } finally {
    await browser.close();
    pageServer.close();
  }
  result.requests = result.requests.map(({ method, url, status }) => ({ method, url, status }));
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
