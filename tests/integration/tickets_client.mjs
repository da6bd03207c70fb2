// Helpers for the tests of odeon.plugin.tickets (tickets.test.mjs): a Janus session over a
// WebSocket attached to the plugin, whose requests resolve with the plugin's asynchronous reply
// (matched by transaction, so many requests may be in flight on one session at once); the
// outbox folder of .eml files (quoted-printable bodies) and the links in them; and a snapshot
// of every tickets_* table, to check that a refused request stored nothing.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WsClient, tx } from './client.mjs';
import { sleep } from './harness.mjs';

export const TICKETS = 'odeon.plugin.tickets';

/** Opens a WebSocket and sends `create` (with token when given); returns {ws, reply}. */
export async function ticketsCreate(server, token) {
  const ws = await WsClient.connect(server.wsUrl, 'janus-protocol');
  const reply = await ws.request({ janus: 'create', ...(token !== undefined ? { token } : {}) });
  return { ws, reply };
}

/**
 * A session (anonymous without token, else the identity of the organiser token or
 * participant credential) with a handle on the tickets plugin.
 *   request(name, body)  -> the reply's data ({tickets: name, ...} or {tickets: "error", ...})
 *   ok(name, body)       -> the data, asserting it is not an error
 *   fail(name, body, code) -> the data, asserting error_code
 *   message(body)        -> {ack, data}: a raw `message` (body may be any JSON); data is null
 *                           when the core answered with an error instead of an ack
 *   close()
 */
export async function ticketsSession(server, token, { timeoutMs = 20000 } = {}) {
  const { ws, reply } = await ticketsCreate(server, token);
  if (reply.janus !== 'success') {
    await ws.close();
    throw Object.assign(new Error(`create failed: ${JSON.stringify(reply)}`), { reply });
  }
  const sessionId = reply.data.id;
  const att = await ws.request({ janus: 'attach', session_id: sessionId, plugin: TICKETS });
  if (att.janus !== 'success') {
    await ws.close();
    throw new Error(`attach failed: ${JSON.stringify(att)}`);
  }
  const handleId = att.data.id;
  const keepalive = setInterval(() => {
    ws.send({ janus: 'keepalive', session_id: sessionId, transaction: tx('ka') });
  }, 15000);
  keepalive.unref();

  async function message(body) {
    const transaction = tx('tickets');
    ws.send({ janus: 'message', session_id: sessionId, handle_id: handleId, transaction, body });
    const ack = await ws.nextForTransaction(transaction, timeoutMs, (m) => m.janus !== 'event');
    if (ack.janus !== 'ack') return { ack, data: null };
    const ev = await ws.nextForTransaction(transaction, timeoutMs, (m) => m.janus === 'event');
    assert.equal(ev.plugindata?.plugin, TICKETS, `event from another plugin: ${JSON.stringify(ev)}`);
    return { ack, data: ev.plugindata.data };
  }

  async function request(name, body = {}) {
    const { ack, data } = await message({ request: name, ...body });
    assert.ok(data, `${name}: no ack but ${JSON.stringify(ack)}`);
    return data;
  }

  async function ok(name, body = {}) {
    const data = await request(name, body);
    assert.notEqual(data.tickets, 'error',
      `${name} ${short(body)} should succeed, got ${JSON.stringify(data)}`);
    assert.equal(data.tickets, name, `reply names another request: ${JSON.stringify(data)}`);
    return data;
  }

  async function fail(name, body, code) {
    const data = await request(name, body);
    assert.equal(data.tickets, 'error',
      `${name} ${short(body)} should fail with ${code}, got ${JSON.stringify(data).slice(0, 400)}`);
    assert.equal(data.error_code, code,
      `${name} ${short(body)}: expected error ${code}, got ${data.error_code} (${data.error})`);
    assert.equal(typeof data.error, 'string');
    return data;
  }

  return {
    ws, sessionId, handleId, message, request, ok, fail,
    async close() {
      clearInterval(keepalive);
      try {
        await ws.request({ janus: 'destroy', session_id: sessionId }, 3000);
      } catch {
        // closing anyway
      }
      await ws.close();
    },
  };
}

function short(body) {
  const s = JSON.stringify(body);
  return s && s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

// ---------------------------------------------------------------------------------------
// The outbox folder

/** Decodes a quoted-printable body (soft line breaks, =XX) as UTF-8. */
export function decodeQuotedPrintable(text) {
  const bytes = text.replace(/=\r?\n/g, '')
    .replace(/=([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Parses one message: {to, subject, body (decoded), raw}. */
export function parseMail(raw) {
  const split = raw.indexOf('\r\n\r\n') >= 0 ? raw.indexOf('\r\n\r\n') : raw.indexOf('\n\n');
  const head = raw.slice(0, split).replace(/\r?\n[ \t]+/g, ' ');
  const header = (name) => {
    const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'mi').exec(head);
    return m ? m[1].trim() : null;
  };
  const qp = /quoted-printable/i.test(header('Content-Transfer-Encoding') || '');
  const bodyRaw = raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const to = (header('To') || '').replace(/^.*<([^>]+)>.*$/, '$1');
  return { to, subject: header('Subject'), body: qp ? decodeQuotedPrintable(bodyRaw) : bodyRaw, raw };
}

function outboxOrder(a, b) {
  const [ta, na] = a.replace(/\.eml$/, '').split('-').map(Number);
  const [tb, nb] = b.replace(/\.eml$/, '').split('-').map(Number);
  return ta - tb || na - nb || a.localeCompare(b);
}

/** Every message in the outbox, oldest first. */
export function outboxMails(dir) {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort(outboxOrder)
    .map((f) => ({ file: f, ...parseMail(fs.readFileSync(path.join(dir, f), 'utf8')) }));
}

/** The messages to an address (case-insensitive), oldest first. */
export function mailsTo(dir, to) {
  return outboxMails(dir).filter((m) => m.to.toLowerCase() === to.toLowerCase());
}

/** Waits until there are at least n messages to `to`; returns them. */
export async function waitForMails(dir, to, n = 1, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const mails = mailsTo(dir, to);
    if (mails.length >= n) return mails;
    if (Date.now() > deadline) {
      throw new Error(`${mails.length} of ${n} messages to ${to} after ${ms} ms ` +
        `(outbox: ${outboxMails(dir).map((m) => m.to).join(', ')})`);
    }
    await sleep(50);
  }
}

/** The value of `param` in the first link of text to `page` (signin.html, console.html). */
export function linkParam(text, page, param) {
  const m = new RegExp(`https?://[^\\s"'<>]+/${page.replace('.', '\\.')}\\?${param}=([A-Za-z0-9_-]+)`).exec(text);
  assert.ok(m, `no ${page}?${param}= link in:\n${text}`);
  return m[1];
}

/** The secret of the n-th (1-based) sign-in link sent to `to`. */
export async function magicToken(dir, to, n = 1) {
  const mails = await waitForMails(dir, to, n);
  return linkParam(mails[n - 1].body, 'signin.html', 'token');
}

/** The secret of the n-th invitation sent to `to`. */
export async function inviteToken(dir, to, n = 1) {
  const mails = await waitForMails(dir, to, n);
  return linkParam(mails[n - 1].body, 'console.html', 'invite');
}

/** How a link secret is stored (tickets_link_hash: SHA-256, as a bytea literal). */
export function linkHash(secret) {
  return `'\\x${crypto.createHash('sha256').update(secret).digest('hex')}'::bytea`;
}

// ---------------------------------------------------------------------------------------
// The database: one psql process for the whole file (a psql per query costs ~80 ms, and the
// matrix takes two snapshots per refused call).

export const TABLES = [
  'tickets_organisations', 'tickets_users', 'tickets_members', 'tickets_invites',
  'tickets_login_failures', 'tickets_events', 'tickets_ticket_types', 'tickets_participants',
  'tickets_consents', 'tickets_orders', 'tickets_magic_links', 'tickets_webhook_events',
];

/**
 * A psql session on conninfo. query(sql) resolves with psql's unaligned, tuples-only output
 * (rejects on an SQL error); snapshot() gives {table: "rows:md5 of every row"} for every
 * tickets_* table; assertUnchanged(before, what) compares with a snapshot.
 */
export function openDb(conninfo) {
  const proc = spawn('sh', ['-c', 'exec psql "$@" 2>&1', 'sh', '-X', '-A', '-t', '-q',
    '-v', 'ON_ERROR_STOP=0', conninfo], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buffer = '';
  let current = null; // {marker, resolve, reject, lines}
  const queue = [];
  let counter = 0;
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!current) continue;
      if (line === current.marker) {
        const done = current;
        current = null;
        const errors = done.lines.filter((l) => /^(psql:.*)?(ERROR|FATAL):/.test(l));
        if (errors.length) done.reject(new Error(`SQL failed: ${errors.join('; ')}\n${done.sql}`));
        else done.resolve(done.lines.join('\n').trim());
        next();
      } else {
        current.lines.push(line);
      }
    }
  });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  function next() {
    if (current || queue.length === 0) return;
    current = queue.shift();
    proc.stdin.write(`${current.sql.replace(/;\s*$/, '')};\n\\echo ${current.marker}\n`);
  }
  function query(sql) {
    return new Promise((resolve, reject) => {
      counter += 1;
      queue.push({ sql, marker: `__odeon_end_${counter}__`, resolve, reject, lines: [] });
      next();
    });
  }
  async function snapshot() {
    const parts = TABLES.map((t) => `SELECT '${t}' || '=' || count(*) || ':' || ` +
      `md5(COALESCE(string_agg(x::text, '|' ORDER BY x::text), '')) FROM ${t} x`);
    const out = await query(parts.join(' UNION ALL '));
    return Object.fromEntries(out.split('\n').map((l) => l.split('=')));
  }
  async function assertUnchanged(before, what) {
    const now = await snapshot();
    const changed = TABLES.filter((t) => now[t] !== before[t]);
    assert.deepEqual(changed, [], `${what}: tables changed: ${changed.join(', ')}`);
  }
  return {
    query, snapshot, assertUnchanged,
    async close() {
      proc.stdin.end('\\q\n');
      await exited;
    },
  };
}

/** A SQL string literal. */
export function lit(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}
