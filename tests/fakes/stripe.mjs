// A fake of the parts of Stripe the tickets plugin uses (plugins/tickets/tickets_stripe.c),
// for integration tests and the demo. Node 18+, built-ins only.
//
//   Connect OAuth   GET  /oauth/authorize   auto-approves: 302 to redirect_uri?code=&state=
//                   POST /oauth/token       Bearer <secretKey>; a code works once
//   Checkout        POST /v1/checkout/sessions      Bearer, Stripe-Account, Idempotency-Key
//                   GET  /v1/checkout/sessions/:id   POST /v1/checkout/sessions/:id/expire
//   Payment page    GET  /pay/:id (an HTML page with a Pay button), POST /pay/:id (pays,
//                   then 303 to success_url with {CHECKOUT_SESSION_ID} filled in)
//   Webhooks        pay(), expire() and redeliver() POST Stripe-shaped events to webhookUrl,
//                   signed like Stripe (Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
//                   "t.body" keyed by the whole whsec_ secret>)
//
// The base URL serves as both api_base and connect_base. webhookUrl may be set (or changed)
// after start-up on the returned object, since the server under test usually starts later.
//
// As a program (the demo): node tests/fakes/stripe.mjs [--port N] [--host H] [--webhook URL]
//   [--webhook-secret S] [--secret-key K] [--client-id C]   prints its URL, runs until killed.

import crypto from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const API_VERSION = '2024-06-20';
const MIN_EXPIRY_S = 30 * 60;
const MAX_EXPIRY_S = 24 * 60 * 60;
// Stripe measures the 30 minutes from its own clock; a client that asks for exactly 30
// minutes arrives a little later. The fake forgives this much, so tests are not flaky.
const EXPIRY_SLACK_S = 60;
const BODY_MAX = 1 << 20;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** n random letters and digits, like the tail of a Stripe id. */
function rid(n) {
  const bytes = crypto.randomBytes(n);
  let s = '';
  for (const b of bytes) s += ALNUM[b % ALNUM.length];
  return s;
}

function nowS() {
  return Math.floor(Date.now() / 1000);
}

/** The Stripe-Signature header value for payload (a string) at unix time t. */
export function signStripePayload(secret, payload, t = nowS()) {
  const v1 = crypto.createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > BODY_MAX) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/** Stripe's API error shape. */
function apiError(res, status, message, type = 'invalid_request_error', param) {
  const error = { type, message };
  if (param) error.param = param;
  sendJson(res, status, { error });
}

/** Connect OAuth's error shape. */
function oauthError(res, status, error, description) {
  sendJson(res, status, { error, error_description: description });
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
  });
  res.end(html);
}

function escapeHtml(s) {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
}

function bearer(req) {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
  return m ? m[1] : null;
}

/** Like Stripe, quotes a wrong key with most of it hidden. */
function maskKey(key) {
  return key.length > 16 ? `${key.slice(0, 8)}${'*'.repeat(key.length - 12)}${key.slice(-4)}` : '****';
}

function isUrl(s) {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

function formatAmount(amount, currency) {
  return `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;
}

// Parameters of POST /v1/checkout/sessions the fake understands; Stripe refuses unknown ones,
// and so does the fake, so that a typo in the client fails here rather than in production.
const KNOWN_PARAMS = [
  /^mode$/,
  /^line_items\[0\]\[quantity\]$/,
  /^line_items\[0\]\[price_data\]\[(currency|unit_amount)\]$/,
  /^line_items\[0\]\[price_data\]\[product_data\]\[(name|description)\]$/,
  /^(success_url|cancel_url|client_reference_id|customer_email|expires_at|locale)$/,
  /^metadata\[[^\]]+\]$/,
  /^payment_intent_data\[(description|metadata\]\[[^\]]+)\]$/,
];

/** Checks a checkout form; returns [session fields] or throws {status, message, param}. */
function parseCheckout(form) {
  const fail = (message, param) => {
    throw Object.assign(new Error(message), { status: 400, param });
  };
  for (const key of form.keys()) {
    if (!KNOWN_PARAMS.some((re) => re.test(key))) fail(`Received unknown parameter: ${key}`, key);
  }
  if (form.get('mode') !== 'payment') fail('The fake supports only mode=payment.', 'mode');
  const qty = form.get('line_items[0][quantity]');
  if (!/^[1-9][0-9]*$/.test(qty || '')) {
    fail('Invalid positive integer', 'line_items[0][quantity]');
  }
  const currency = (form.get('line_items[0][price_data][currency]') || '').toLowerCase();
  if (!/^[a-z]{3}$/.test(currency)) fail('Invalid currency', 'line_items[0][price_data][currency]');
  const unit = form.get('line_items[0][price_data][unit_amount]') || '';
  if (!/^[0-9]+$/.test(unit) || Number(unit) <= 0) {
    fail('Invalid positive integer', 'line_items[0][price_data][unit_amount]');
  }
  const name = form.get('line_items[0][price_data][product_data][name]');
  if (!name) fail('Missing required param: name.', 'line_items[0][price_data][product_data][name]');
  const successUrl = form.get('success_url');
  if (!successUrl || !isUrl(successUrl.replace('{CHECKOUT_SESSION_ID}', 'x'))) {
    fail('Not a valid URL', 'success_url');
  }
  const cancelUrl = form.get('cancel_url');
  if (cancelUrl && !isUrl(cancelUrl)) fail('Not a valid URL', 'cancel_url');
  const created = nowS();
  let expiresAt = created + MAX_EXPIRY_S;
  if (form.has('expires_at')) {
    expiresAt = Number(form.get('expires_at'));
    if (
      !Number.isInteger(expiresAt) ||
      expiresAt < created + MIN_EXPIRY_S - EXPIRY_SLACK_S ||
      expiresAt > created + MAX_EXPIRY_S + EXPIRY_SLACK_S
    ) {
      fail('expires_at must be between 30 minutes and 24 hours from now.', 'expires_at');
    }
  }
  const metadata = {};
  for (const [k, v] of form) {
    const m = /^metadata\[([^\]]+)\]$/.exec(k);
    if (m) metadata[m[1]] = v;
  }
  const amount = Number(unit) * Number(qty);
  return {
    created,
    expires_at: expiresAt,
    currency,
    amount_subtotal: amount,
    amount_total: amount,
    client_reference_id: form.get('client_reference_id') || null,
    customer_email: form.get('customer_email') || null,
    metadata,
    success_url: successUrl,
    cancel_url: cancelUrl || null,
    productName: name,
    quantity: Number(qty),
  };
}

/**
 * Starts the fake on 127.0.0.1 (or host). Returns {url, port, close(), sessions, events,
 * deliveries, oauthCodes, accounts, webhookUrl, pay(id), expire(id), redeliver(eventId),
 * sign(payload, t)}. onDelivery(record), when given, is called after each webhook delivery
 * with {event, status, body?, error?} (status 0: no HTTP answer).
 */
export async function startFakeStripe({
  secretKey = 'sk_test_fake',
  clientId = 'ca_fake',
  webhookUrl = null,
  webhookSecret = 'whsec_fake',
  port = 0,
  host = '127.0.0.1',
  onDelivery = null,
} = {}) {
  const sessions = new Map(); // id -> the checkout.session object, as Stripe shows it
  const sessionInfo = new Map(); // id -> {account, productName, quantity}
  const idempotency = new Map(); // `${account} ${key}` -> {body, sessionId}
  const events = new Map(); // id -> event
  const deliveries = []; // {event, status, error?}
  const oauthCodes = []; // every code issued, in order
  const accounts = new Map(); // code -> {accountId, used}
  let server;

  const fake = {
    url: '',
    port: 0,
    webhookUrl,
    sessions,
    events,
    deliveries,
    oauthCodes,
    accounts,
    sign: (payload, t = nowS()) => signStripePayload(webhookSecret, payload, t),
    pay,
    expire,
    redeliver,
    close,
  };

  function requireSession(id) {
    const s = sessions.get(id);
    if (!s) throw new Error(`fake stripe: no such checkout session: ${id}`);
    return s;
  }

  function makeEvent(type, session) {
    const event = {
      id: `evt_${rid(24)}`,
      object: 'event',
      api_version: API_VERSION,
      created: nowS(),
      type,
      livemode: false,
      account: sessionInfo.get(session.id).account,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: structuredClone(session) },
    };
    events.set(event.id, event);
    return event;
  }

  /** POSTs event to webhookUrl with a fresh signature; records {event, status}. */
  async function deliver(event) {
    const record = { event, status: 0 };
    deliveries.push(record);
    if (!fake.webhookUrl) {
      record.error = 'no webhookUrl';
      if (onDelivery) onDelivery(record);
      return record;
    }
    const payload = JSON.stringify(event);
    try {
      const res = await fetch(fake.webhookUrl, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'Stripe-Signature': fake.sign(payload),
        },
        body: payload,
        signal: AbortSignal.timeout(10000),
      });
      record.status = res.status;
      record.body = await res.text();
    } catch (err) {
      record.error = String(err && err.message ? err.message : err);
    }
    if (onDelivery) onDelivery(record);
    return record;
  }

  /** Marks the session paid and delivers checkout.session.completed; returns the event. */
  async function pay(sessionId) {
    const s = requireSession(sessionId);
    if (s.status !== 'open') throw new Error(`fake stripe: session ${sessionId} is ${s.status}`);
    s.status = 'complete';
    s.payment_status = 'paid';
    s.payment_intent = `pi_${rid(24)}`;
    s.customer_details = { email: s.customer_email, name: null };
    s.url = null; // Stripe shows the page's URL only while the session is open
    const event = makeEvent('checkout.session.completed', s);
    await deliver(event);
    return event;
  }

  /** Expires an open session and delivers checkout.session.expired; returns the event. */
  async function expire(sessionId) {
    const s = requireSession(sessionId);
    if (s.status !== 'open') throw new Error(`fake stripe: session ${sessionId} is ${s.status}`);
    s.status = 'expired';
    s.url = null;
    const event = makeEvent('checkout.session.expired', s);
    await deliver(event);
    return event;
  }

  /** Sends an event again: the same JSON, same id, a fresh signature; returns the event. */
  async function redeliver(eventId) {
    const event = events.get(eventId);
    if (!event) throw new Error(`fake stripe: no such event: ${eventId}`);
    await deliver(event);
    return event;
  }

  // ---- Connect OAuth ----

  function oauthAuthorize(res, q) {
    if (q.get('client_id') !== clientId) {
      return oauthError(res, 400, 'invalid_client', `No such application: '${q.get('client_id')}'`);
    }
    if (q.get('response_type') !== 'code') {
      return oauthError(res, 400, 'invalid_request', 'response_type must be code');
    }
    const scope = q.get('scope') || 'read_only';
    if (scope !== 'read_write' && scope !== 'read_only') {
      return oauthError(res, 400, 'invalid_scope', `Invalid scope: ${scope}`);
    }
    const redirect = q.get('redirect_uri');
    if (!redirect || !isUrl(redirect)) {
      return oauthError(res, 400, 'invalid_redirect_uri', 'A valid redirect_uri is required');
    }
    const code = `ac_${rid(32)}`;
    oauthCodes.push(code);
    accounts.set(code, { accountId: `acct_${rid(16)}`, used: false, scope });
    // Percent-encoded (never '+' for a space) and appended to any query redirect_uri has.
    const to = new URL(redirect);
    to.hash = '';
    let location = `${to}${to.search ? '&' : '?'}code=${encodeURIComponent(code)}`;
    if (q.has('state')) location += `&state=${encodeURIComponent(q.get('state'))}`;
    res.writeHead(302, { Location: location, 'Content-Length': 0 });
    res.end();
  }

  async function oauthToken(req, res) {
    if (bearer(req) !== secretKey) {
      return oauthError(res, 401, 'invalid_client', 'Invalid API Key provided.');
    }
    const form = new URLSearchParams(await readBody(req));
    if (form.get('grant_type') !== 'authorization_code') {
      return oauthError(res, 400, 'unsupported_grant_type', 'Only authorization_code is supported');
    }
    const code = form.get('code') || '';
    const entry = accounts.get(code);
    if (!entry) {
      return oauthError(res, 400, 'invalid_grant', `Authorization code does not exist: ${code}`);
    }
    if (entry.used) {
      return oauthError(res, 400, 'invalid_grant', `Authorization code already used: ${code}`);
    }
    entry.used = true;
    sendJson(res, 200, {
      access_token: `sk_test_${rid(24)}`,
      refresh_token: `rt_${rid(24)}`,
      token_type: 'bearer',
      livemode: false,
      scope: entry.scope === 'read_only' ? 'read_only' : 'read_write',
      stripe_publishable_key: `pk_test_${rid(24)}`,
      stripe_user_id: entry.accountId,
    });
  }

  // ---- Checkout Sessions ----

  /** Bearer key and Stripe-Account; answers the error itself and returns null when wrong. */
  function apiCaller(req, res) {
    const key = bearer(req);
    if (!key) {
      apiError(res, 401, 'You did not provide an API key. Use Authorization: Bearer <key>.');
      return null;
    }
    if (key !== secretKey) {
      apiError(res, 401, `Invalid API Key provided: ${maskKey(key)}`);
      return null;
    }
    const account = req.headers['stripe-account'];
    if (!account || !/^acct_[A-Za-z0-9]+$/.test(account)) {
      // Stripe would charge the platform itself; the tickets plugin always charges directly
      // on the organiser's account, so a missing header is a bug worth failing on.
      apiError(res, 400, 'The fake requires a Stripe-Account header (acct_...).');
      return null;
    }
    return account;
  }

  async function createSession(req, res) {
    const account = apiCaller(req, res);
    if (!account) return;
    const raw = await readBody(req);
    const key = req.headers['idempotency-key'];
    const slot = key ? `${account} ${key}` : null;
    if (slot && idempotency.has(slot)) {
      const prior = idempotency.get(slot);
      if (prior.body !== raw) {
        return apiError(
          res,
          400,
          'Keys for idempotent requests can only be used with the same parameters they were ' +
            `first used with. Try using a key other than '${key}' if you meant to execute a ` +
            'different request.',
          'idempotency_error',
        );
      }
      return sendJson(res, 200, sessions.get(prior.sessionId), { 'Idempotent-Replayed': 'true' });
    }
    let fields;
    try {
      fields = parseCheckout(new URLSearchParams(raw));
    } catch (err) {
      return apiError(res, err.status || 400, err.message, 'invalid_request_error', err.param);
    }
    const id = `cs_test_${rid(58)}`;
    const { productName, quantity, ...visible } = fields;
    const session = {
      id,
      object: 'checkout.session',
      ...visible,
      customer_details: null,
      livemode: false,
      mode: 'payment',
      payment_intent: null,
      payment_status: 'unpaid',
      status: 'open',
      url: `${fake.url}/pay/${id}`,
    };
    sessions.set(id, session);
    sessionInfo.set(id, { account, productName, quantity });
    if (slot) idempotency.set(slot, { body: raw, sessionId: id });
    sendJson(res, 200, session);
  }

  function ownSession(req, res, id) {
    const account = apiCaller(req, res);
    if (!account) return null;
    const s = sessions.get(id);
    if (!s || sessionInfo.get(id).account !== account) {
      apiError(res, 404, `No such checkout.session: '${id}'`, 'invalid_request_error', 'session');
      return null;
    }
    return s;
  }

  async function expireViaApi(req, res, id) {
    const s = ownSession(req, res, id);
    if (!s) return;
    if (s.status !== 'open') {
      return apiError(res, 400, `Only Checkout Sessions with a status in [open] can be expired.`);
    }
    await expire(id);
    sendJson(res, 200, s);
  }

  // ---- the payment page ----

  function payPage(res, id) {
    const s = sessions.get(id);
    if (!s) return sendHtml(res, 404, '<!doctype html><title>Not found</title><p>No such session.');
    const info = sessionInfo.get(id);
    const price = formatAmount(s.amount_total, s.currency);
    const status =
      s.status === 'open'
        ? `<form method="post" action="/pay/${escapeHtml(id)}">` +
          `<button type="submit" id="pay">Pay ${escapeHtml(price)}</button></form>` +
          (s.cancel_url ? `<p><a id="cancel" href="${escapeHtml(s.cancel_url)}">Cancel</a>` : '')
        : `<p id="status">This session is ${escapeHtml(s.status)}.</p>`;
    sendHtml(
      res,
      200,
      '<!doctype html><html><head><meta charset="utf-8">' +
        '<title>Fake Stripe Checkout</title></head><body><h1>Fake Stripe Checkout</h1>' +
        `<p id="product">${escapeHtml(info.productName)}</p>` +
        `<p id="amount">${escapeHtml(price)}</p>` +
        (s.customer_email ? `<p id="email">${escapeHtml(s.customer_email)}</p>` : '') +
        `${status}</body></html>`,
    );
  }

  async function payForm(res, id) {
    const s = sessions.get(id);
    if (!s) return sendHtml(res, 404, '<!doctype html><title>Not found</title><p>No such session.');
    if (s.status === 'expired') {
      return sendHtml(res, 410, '<!doctype html><title>Expired</title><p>This session expired.');
    }
    if (s.status === 'open') await pay(id);
    res.writeHead(303, {
      Location: s.success_url.replaceAll('{CHECKOUT_SESSION_ID}', id),
      'Content-Length': 0,
    });
    res.end();
  }

  // ---- routing ----

  async function route(req, res) {
    const u = new URL(req.url, 'http://fake');
    const p = u.pathname;
    const m = req.method;
    let g;
    if (m === 'GET' && p === '/oauth/authorize') return oauthAuthorize(res, u.searchParams);
    if (m === 'POST' && p === '/oauth/token') return oauthToken(req, res);
    if (m === 'POST' && p === '/v1/checkout/sessions') return createSession(req, res);
    if ((g = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(p)) && m === 'GET') {
      const s = ownSession(req, res, g[1]);
      return s && sendJson(res, 200, s);
    }
    if ((g = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(p)) && m === 'POST') {
      return expireViaApi(req, res, g[1]);
    }
    if ((g = /^\/pay\/([^/]+)$/.exec(p))) {
      if (m === 'GET') return payPage(res, g[1]);
      if (m === 'POST') return payForm(res, g[1]);
    }
    return apiError(res, 404, `Unrecognized request URL (${m}: ${p}).`);
  }

  server = http.createServer((req, res) => {
    route(req, res).catch((err) => {
      if (!res.headersSent) apiError(res, 500, `fake stripe: ${err.message}`, 'api_error');
      else res.destroy();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fake.port = server.address().port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  fake.url = `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${fake.port}`;

  function close() {
    return new Promise((resolve) => {
      server.close(() => resolve());
      if (server.closeAllConnections) server.closeAllConnections();
    });
  }

  return fake;
}

// ---- as a program ----

function parseArgs(argv) {
  const names = {
    '--port': 'port',
    '--host': 'host',
    '--webhook': 'webhookUrl',
    '--webhook-secret': 'webhookSecret',
    '--secret-key': 'secretKey',
    '--client-id': 'clientId',
  };
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const name = names[flag];
    if (!name) throw new Error(`unknown argument: ${argv[i]}`);
    const value = inline !== undefined ? inline : argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    opts[name] = name === 'port' ? Number(value) : value;
  }
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`stripe.mjs: ${err.message}`);
    console.error(
      'usage: node tests/fakes/stripe.mjs [--port N] [--host H] [--webhook URL] ' +
        '[--webhook-secret S] [--secret-key K] [--client-id C]',
    );
    process.exit(2);
  }
  const fake = await startFakeStripe({
    ...opts,
    onDelivery: (r) =>
      console.error(`webhook ${r.event.type} ${r.event.id}: ${r.status || r.error}`),
  });
  console.log(fake.url);
  const stop = () => fake.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
