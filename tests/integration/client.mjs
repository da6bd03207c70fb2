// Small Janus API client helpers for the integration tests: HTTP (fetch and raw
// node:http), long-poll, and a WebSocket wrapper with a message queue.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import WebSocket from 'ws';

let txCounter = 0;

/** A fresh transaction id. */
export function tx(prefix = 'tx') {
  txCounter += 1;
  return `${prefix}-${txCounter}-${crypto.randomBytes(6).toString('hex')}`;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * POSTs a JSON body (an object is serialised; a string is sent verbatim) to url.
 * Returns { status, headers, text, json }.
 */
export async function postJson(url, body, { headers = {}, timeoutMs = 10000 } = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: parseJson(text) };
}

/** GET url. Returns { status, headers, text, json }. */
export async function getUrl(url, { headers = {}, timeoutMs = 10000, redirect = 'follow' } = {}) {
  const res = await fetch(url, { headers, redirect, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: parseJson(text) };
}

/**
 * HTTP client bound to a server's Janus API base ("http://host:port/janus").
 * post(path, body) posts to base + path ("" or "/<session>" or "/<session>/<handle>").
 * get(path, {maxev}) performs a long-poll GET on a session path.
 */
export function httpClient(server) {
  const base = server.httpUrl;
  return {
    base,
    post: (p, body, opts) => postJson(base + p, body, opts),
    get: (p, { maxev, timeoutMs = 45000, query = '' } = {}) => {
      const params = new URLSearchParams(query);
      params.set('rid', String(Date.now()));
      if (maxev !== undefined) params.set('maxev', String(maxev));
      return getUrl(`${base}${p}?${params}`, { timeoutMs });
    },
  };
}

/** POST to a server's Janus API: httpPost(server, path, body). */
export function httpPost(server, p, body, opts) {
  return postJson(server.httpUrl + p, body, opts);
}

/** Long-poll GET on a session path: httpGet(server, "/<session>", {maxev}). */
export function httpGet(server, p, opts) {
  return httpClient(server).get(p, opts);
}

/** POST to the admin API with the server's admin secret (unless body already sets one). */
export function adminPost(server, body, opts) {
  const full = { transaction: tx('admin'), admin_secret: server.adminSecret, ...body };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  return postJson(server.adminUrl + (opts?.path || ''), full, opts);
}

/**
 * Raw HTTP request with node:http (full control of method, headers and body, and no
 * automatic JSON handling). Returns { status, headers, text, json }.
 */
export function rawRequest(url, { method = 'GET', headers = {}, body, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers,
      agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, text, json: parseJson(text) });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${url}`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------
// WebSocket

export class WsClient {
  /** Opens a WebSocket with the given subprotocol and resolves once it is open. */
  static connect(url, protocol = 'janus-protocol', options = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocol, { maxPayload: 64 * 1024 * 1024, ...options });
      const client = new WsClient(ws);
      const onError = (err) => reject(err);
      ws.once('error', onError);
      ws.once('unexpected-response', (req, res) => {
        reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`));
      });
      ws.once('open', () => {
        ws.off('error', onError);
        resolve(client);
      });
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.all = [];
    this.errors = [];
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.fail(new Error(`socket closed (${code}) while waiting for ${w.what}`));
      });
    });
    ws.on('error', (e) => this.errors.push(e));
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? Buffer.from(data).toString('utf8') : data.toString();
      let msg;
      try {
        msg = JSON.parse(text);
      } catch {
        msg = { __unparsable: text };
      }
      this.all.push(msg);
      const i = this.waiters.findIndex((w) => w.predicate(msg));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        w.done(msg);
      } else {
        this.queue.push(msg);
      }
    });
  }

  get protocol() {
    return this.ws.protocol;
  }

  /** Sends an object as JSON (a string is sent verbatim). */
  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /**
   * Resolves with the first queued or future message matching predicate (which is removed
   * from the queue); rejects after timeoutMs.
   */
  nextMessage(predicate = () => true, timeoutMs = 5000, what = 'a message') {
    const i = this.queue.findIndex(predicate);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    if (this.closeInfo) return Promise.reject(new Error(`socket closed (${this.closeInfo.code}) while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const w = { predicate, what };
      const timer = setTimeout(() => {
        const j = this.waiters.indexOf(w);
        if (j >= 0) this.waiters.splice(j, 1);
        reject(new Error(`timeout after ${timeoutMs} ms waiting for ${what}; unconsumed messages: ` +
          JSON.stringify(this.queue).slice(0, 2000)));
      }, timeoutMs);
      w.done = (m) => { clearTimeout(timer); resolve(m); };
      w.fail = (e) => { clearTimeout(timer); reject(e); };
      this.waiters.push(w);
    });
  }

  /** Resolves with the next message carrying this transaction. */
  nextForTransaction(transaction, timeoutMs = 5000, extra = () => true) {
    return this.nextMessage((m) => m.transaction === transaction && extra(m), timeoutMs,
      `a reply to transaction ${transaction}`);
  }

  /**
   * Sends a request (adding a transaction unless present) and resolves with its direct reply
   * (success, ack, error, pong, server_info...). Asynchronous "event" messages carrying the
   * same transaction stay queued for nextForTransaction(): Janus may push a plugin event
   * before the ack of the message that caused it.
   */
  async request(obj, timeoutMs = 5000) {
    const body = { transaction: tx('ws'), ...obj };
    this.send(body);
    return this.nextForTransaction(body.transaction, timeoutMs, (m) => m.janus !== 'event');
  }

  /** Fails if a message matching predicate arrives (or is queued) within ms. */
  async expectNoMessage(predicate = () => true, ms = 500) {
    try {
      const m = await this.nextMessage(predicate, ms);
      throw Object.assign(new Error(`unexpected message: ${JSON.stringify(m)}`), { unexpected: true });
    } catch (err) {
      if (err.unexpected) throw err;
      if (!/^timeout/.test(err.message)) throw err;
    }
  }

  close(code = 1000) {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code);
    return this.closed;
  }

  terminate() {
    this.ws.terminate();
    return this.closed;
  }
}

/** Opens a Janus API WebSocket ("janus-protocol") to the server. */
export function wsConnect(server) {
  return WsClient.connect(server.wsUrl, 'janus-protocol');
}

/** Opens an Admin API WebSocket ("janus-admin-protocol") to the server. */
export function adminWsConnect(server) {
  return WsClient.connect(server.adminWsUrl, 'janus-admin-protocol');
}

// ---------------------------------------------------------------------------------------
// Convenience flows

/** Creates a session over HTTP; returns its id (asserting a success reply). */
export async function httpCreateSession(server, extra = {}) {
  const r = await httpPost(server, '', { janus: 'create', transaction: tx('create'), ...extra });
  if (r.json?.janus !== 'success') throw new Error(`create failed: ${r.status} ${r.text}`);
  return r.json.data.id;
}

/** Attaches a plugin over HTTP; returns the handle id. */
export async function httpAttach(server, sessionId, plugin, extra = {}) {
  const r = await httpPost(server, `/${sessionId}`, { janus: 'attach', plugin, transaction: tx('attach'), ...extra });
  if (r.json?.janus !== 'success') throw new Error(`attach failed: ${r.status} ${r.text}`);
  return r.json.data.id;
}

/** Creates a session over a WebSocket; returns its id. */
export async function wsCreateSession(client, extra = {}) {
  const r = await client.request({ janus: 'create', ...extra });
  if (r.janus !== 'success') throw new Error(`create failed: ${JSON.stringify(r)}`);
  return r.data.id;
}

/** Attaches a plugin over a WebSocket; returns the handle id. */
export async function wsAttach(client, sessionId, plugin, extra = {}) {
  const r = await client.request({ janus: 'attach', session_id: sessionId, plugin, ...extra });
  if (r.janus !== 'success') throw new Error(`attach failed: ${JSON.stringify(r)}`);
  return r.data.id;
}

// ---------------------------------------------------------------------------------------
// Assertions shared by the tests


/** Asserts a Janus error reply with the given code and a non-empty reason. */
export function assertJanusError(reply, code, { transaction, sessionId } = {}) {
  assert.ok(reply && typeof reply === 'object', `expected a JSON object, got ${JSON.stringify(reply)}`);
  assert.equal(reply.janus, 'error', `expected an error reply, got ${JSON.stringify(reply)}`);
  assert.ok(reply.error && typeof reply.error === 'object', `error object missing: ${JSON.stringify(reply)}`);
  assert.equal(reply.error.code, code, `expected error ${code}, got ${JSON.stringify(reply)}`);
  assert.equal(typeof reply.error.reason, 'string', `reason must be a string: ${JSON.stringify(reply)}`);
  assert.ok(reply.error.reason.length > 0, 'reason must not be empty');
  if (transaction !== undefined) assert.equal(reply.transaction, transaction, `transaction not echoed: ${JSON.stringify(reply)}`);
  if (sessionId !== undefined) assert.equal(reply.session_id, sessionId, `session_id not echoed: ${JSON.stringify(reply)}`);
}

/** Asserts an HTTP reply carrying Janus JSON: status (200 by default) and JSON content type. */
export function assertJsonReply(res, status = 200) {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
  const ct = typeof res.headers.get === 'function' ? res.headers.get('content-type') : res.headers['content-type'];
  assert.match(String(ct), /application\/json/, `content-type should be application/json, got ${ct}`);
  assert.ok(res.json !== undefined, `body is not JSON: ${res.text.slice(0, 500)}`);
}

/** HTTP POST that must answer HTTP 200 + JSON; returns the parsed body. */
export async function postOk(server, p, body, opts) {
  const res = await httpPost(server, p, body, opts);
  assertJsonReply(res, 200);
  return res.json;
}

/**
 * Long-polls a session (maxev=10) until an event matching predicate arrives; returns it.
 * Other events are kept in `seen` (pass an array to collect them).
 */
export async function pollFor(server, sessionId, predicate, { timeoutMs = 10000, seen = [], query } = {}) {
  const deadline = Date.now() + timeoutMs;
  const backlog = seen.findIndex(predicate);
  if (backlog >= 0) return seen.splice(backlog, 1)[0];
  while (Date.now() < deadline) {
    const res = await httpGet(server, `/${sessionId}`, { maxev: 10, timeoutMs: Math.max(1000, deadline - Date.now()) + 35000, query });
    assert.equal(res.status, 200, `long-poll failed: HTTP ${res.status} ${res.text}`);
    const events = Array.isArray(res.json) ? res.json : [res.json];
    for (const ev of events) {
      if (ev.janus === 'keepalive') continue;
      seen.push(ev);
    }
    const i = seen.findIndex(predicate);
    if (i >= 0) return seen.splice(i, 1)[0];
  }
  throw new Error(`no matching event on session ${sessionId} within ${timeoutMs} ms; seen: ${JSON.stringify(seen)}`);
}
