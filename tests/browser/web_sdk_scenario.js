// Drives the official @mparticle/web-sdk (unchanged, from node_modules) in headless Chromium against
// a running Fermion, from a page on another origin (a static server started here), and prints one
// JSON line: what the SDK reported, and every request the page made to Fermion with its answer.
//
// Usage: node web_sdk_scenario.js <fermionBaseUrl> <apiKey> <customerId> [--stub-identity]
//   --stub-identity answers the identity calls in the browser (profile-conversion semantics), so the
//   event transport can be checked without Fermion's Identity API.
// Env: FERMION_CHROMIUM (default /usr/bin/chromium).
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

const [fermionBase, apiKey, customerId, ...flags] = process.argv.slice(2);
const stubIdentity = flags.includes('--stub-identity');
const HOST = new URL(fermionBase).host; // host:port, the form the SDK's URL keys take
const SDK_JS = path.join(__dirname, 'node_modules/@mparticle/web-sdk/dist/mparticle.js');
const STUB_MPID = '8001234567890123456';
const CORS = { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*' };

function servePage() {
  const files = {
    '/': [path.join(__dirname, 'page.html'), 'text/html'],
    '/mparticle.js': [SDK_JS, 'application/javascript'],
  };
  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, 'http://page').pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file[1] });
    fs.createReadStream(file[0]).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// The SDK hard-codes https:// for the config fetch, alias and v1 forwarding stats (spec 2.1). Fermion
// here is plain http, so those requests are bridged: the same method, path and body, sent over http
// from Node, and Fermion's answer (status, headers, body) handed back to the page unchanged.
async function bridgeHttps(route) {
  const req = route.request();
  const url = new URL(req.url());
  if (url.host !== HOST) return route.abort();
  const headers = {};
  for (const [k, v] of Object.entries(req.headers())) {
    if (['content-type', 'accept', 'x-mp-key', 'origin'].includes(k)) headers[k] = v;
  }
  const resp = await fetch('http://' + HOST + url.pathname + url.search, {
    method: req.method(),
    headers,
    body: ['GET', 'HEAD'].includes(req.method()) ? undefined : req.postDataBuffer(),
  });
  await route.fulfill({
    status: resp.status,
    headers: Object.fromEntries(resp.headers),
    body: Buffer.from(await resp.arrayBuffer()),
  });
}

async function fakeIdentity(route) {
  const req = route.request();
  if (req.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: CORS });
  const method = new URL(req.url()).pathname.split('/').pop();
  const body = {
    context: null,
    mpid: STUB_MPID,
    is_logged_in: method === 'login',
    matched_identities: {},
    is_ephemeral: false,
  };
  return route.fulfill({ status: 200, headers: { ...CORS, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

// Runs inside the page: init, anonymous events, login, known events, forced uploads.
async function scenario({ host, apiKey, customerId }) {
  const waitFor = (register, ms) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ timedOut: true }), ms);
      register((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  const summary = (r) => ({
    httpCode: r.httpCode,
    body: r.body,
    mpid: r.getUser && r.getUser() ? r.getUser().getMPID() : null,
    previousMpid: r.getPreviousUser && r.getPreviousUser() ? r.getPreviousUser().getMPID() : null,
  });
  const out = {};
  let onIdentify;
  const identified = waitFor((done) => (onIdentify = done), 15000);
  mParticle.init(apiKey, {
    isDevelopmentMode: true,
    logLevel: 'warning',
    forceHttps: false, // use the page's http: scheme for events and identity
    workspaceToken: 'FERMIONTEST',
    flags: { eventBatchingIntervalMillis: '2000' }, // batch, then force uploads with mParticle.upload()
    v1SecureServiceUrl: host + '/v1/JS/',
    v2SecureServiceUrl: host + '/v2/JS/',
    v3SecureServiceUrl: host + '/v3/JS/',
    configUrl: host + '/JS/v2/',
    identityUrl: host + '/v1/',
    aliasUrl: host + '/v1/identity/',
    identifyRequest: { userIdentities: {} },
    identityCallback: (r) => onIdentify(summary(r)),
  });
  out.identify = await identified;
  out.ready = await waitFor((done) => mParticle.ready(() => done(true)), 15000);
  if (out.ready !== true) return out;
  out.deviceId = mParticle.getDeviceId();

  mParticle.logPageView('Home', { page: 'home' });
  mParticle.logEvent('Anon Click', mParticle.EventType.Navigation, { button: 'signup', n: 1, ok: true });
  const promotion = mParticle.eCommerce.createPromotion('promo-1', 'banner', 'Spring Sale', 1);
  mParticle.eCommerce.logPromotion(mParticle.PromotionType.PromotionClick, promotion);
  mParticle.upload();
  out.anonymousMpid = mParticle.Identity.getCurrentUser().getMPID();

  out.login = await waitFor(
    (done) => mParticle.Identity.login({ userIdentities: { customerid: customerId } }, (r) => done(summary(r))),
    15000
  );
  mParticle.logEvent('Known Click', mParticle.EventType.Navigation, { button: 'buy' });
  const product = mParticle.eCommerce.createProduct('Widget', 'sku-1', 9.99, 2);
  const transaction = mParticle.eCommerce.createTransactionAttributes('tx-1', null, null, 19.98);
  mParticle.eCommerce.logProductAction(mParticle.ProductActionType.Purchase, [product], null, null, transaction);
  mParticle.logPageView('Account', { page: 'account' });
  mParticle.upload();
  out.knownMpid = mParticle.Identity.getCurrentUser().getMPID();
  return out;
}

async function main() {
  const pageServer = await servePage();
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
  const result = { requests: [], console: [], pageErrors: [] };
  try {
    const context = await browser.newContext();
    await context.route((url) => url.protocol === 'https:', bridgeHttps);
    if (stubIdentity) {
      await context.route(new RegExp(`^http://${HOST}/v1/(identify|login|logout|\\d+/modify)`), fakeIdentity);
    }
    const page = await context.newPage();
    let pendingUploads = 0;
    let lastActivity = Date.now();
    const isUpload = (req) => req.url().endsWith('/events');
    page.on('console', (m) => {
      if (['error', 'warning'].includes(m.type())) result.console.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => result.pageErrors.push(String(e)));
    // Statuses come from 'response': the SDK never reads an upload's (empty) body, so Chromium
    // cancels it and 'requestfinished' never fires for those requests.
    const entries = new Map();
    const done = (req) => {
      if (isUpload(req)) pendingUploads -= 1;
      lastActivity = Date.now();
    };
    page.on('request', (req) => {
      lastActivity = Date.now();
      if (new URL(req.url()).host !== HOST) return;
      if (isUpload(req)) pendingUploads += 1;
      const entry = { method: req.method(), url: req.url(), body: req.postData() };
      entries.set(req, entry);
      result.requests.push(entry);
    });
    page.on('response', async (resp) => {
      const entry = entries.get(resp.request());
      if (!entry) return;
      entry.status = resp.status();
      entry.headers = await resp.allHeaders();
      done(resp.request());
    });
    page.on('requestfailed', (req) => {
      const entry = entries.get(req);
      if (!entry || entry.status !== undefined) return;
      entry.failure = req.failure() && req.failure().errorText;
      done(req);
    });

    const pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
    await page.goto(pageOrigin + '/');
    result.pageOrigin = pageOrigin;
    result.sdk = await page.evaluate(scenario, { host: HOST, apiKey, customerId });
    // Wait until the SDK holds no events or batches (its uploader's queues; test-only peeking at
    // internals) and every upload it started has been answered.
    const queued = () =>
      page.evaluate(() => {
        const api = mParticle.getInstance()._APIClient;
        const up = api && api.uploader;
        return up ? up.eventsQueuedForProcessing.length + up.batchesQueuedForProcessing.length : 0;
      });
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      if (pendingUploads === 0 && Date.now() - lastActivity > 500 && (await queued()) === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    result.queuedAtEnd = await queued();
    result.sdkVersion = await page.evaluate(() => mParticle.getVersion());
  } finally {
    await browser.close();
    pageServer.close();
  }
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
