// Helpers for the tests of the event plugins (chat, help, analytics): nodes sharing one
// PostgreSQL with the tickets plugin; a session with one handle on a plugin whose request()
// resolves with the plugin's reply data (synchronous or the event that follows the ack); an
// event with an owner and registered participants (their credentials from the outbox's magic
// links).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WsClient, adminPost, getUrl, tx } from './client.mjs';
import { freePorts, makeTempDir, sleep, startServer } from './harness.mjs';
import { SQL_DIR } from './pg.mjs';

export const TERMS = { accept_terms: true, accept_data_sharing: true, terms_version: '2026-01', consent_version: '2026-01' };

/**
 * Starts a node with tickets and the given plugins on conninfo; confs maps a plugin name to
 * the text of its .conf (tickets.conf is written from secret and outbox); http adds keys to
 * odeon.conf's [http].
 */
export async function startEventNode({ conninfo, secret, outbox, plugins, confs = {}, name = 'n', http, extraConfig = '' }) {
  const [httpPort, admin] = await freePorts(2);
  const confDir = makeTempDir(`event-${name}-`);
  fs.writeFileSync(path.join(confDir, 'tickets.conf'), [
    '[general]', `site_url = http://127.0.0.1:${httpPort}`, `token_secret = ${secret}`,
    '[mail]', `outbox_dir = ${outbox}`, ''].join('\n'));
  for (const [plugin, text] of Object.entries(confs)) fs.writeFileSync(path.join(confDir, `${plugin}.conf`), text);
  return startServer({
    plugins: ['tickets', ...plugins], pluginsConfigDir: confDir, sqlDir: SQL_DIR, ports: { http: httpPort, admin }, http,
    extraConfig: `[database]\nconninfo = ${conninfo}\n${extraConfig}`,
  });
}

/** A session (with token) and one handle on plugin; {refused} when create failed. */
export async function eventSession(server, plugin, token) {
  const ws = await WsClient.connect(server.wsUrl, 'janus-protocol');
  const created = await ws.request({ janus: 'create', ...(token ? { token } : {}) });
  if (created.janus !== 'success') {
    await ws.close();
    return { refused: created.error?.code };
  }
  const sessionId = created.data.id;
  const att = await ws.request({ janus: 'attach', session_id: sessionId, plugin });
  const handleId = att.data.id;
  // unref: a session a failed test left open must not keep the test process alive.
  const keepalive = setInterval(() => ws.send({ janus: 'keepalive', session_id: sessionId, transaction: tx('k') }), 15000);
  keepalive.unref();
  return {
    ws, sessionId, handleId,
    async request(body, timeoutMs = 10000) {
      const transaction = tx('m');
      const reply = await ws.request({ janus: 'message', session_id: sessionId, handle_id: handleId, transaction, body }, timeoutMs);
      if (reply.janus === 'success') return reply.plugindata.data;
      assert.equal(reply.janus, 'ack', JSON.stringify(reply));
      const ev = await ws.nextForTransaction(transaction, timeoutMs, (m) => m.janus === 'event');
      return ev.plugindata.data;
    },
    /** Asynchronous plugin events (no transaction) whose data passes filter, in order. */
    events(filter = () => true) {
      return ws.all.filter((m) => m.janus === 'event' && !m.transaction && m.plugindata?.data && filter(m.plugindata.data))
        .map((m) => m.plugindata.data);
    },
    async close() {
      clearInterval(keepalive);
      await ws.close();
    },
  };
}

export async function waitFor(what, fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The magic-link token of the finished mail to `to` (the mailer writes .eml.tmp, then renames). */
export async function linkTo(outbox, to) {
  return waitFor(`an email to ${to}`, () => {
    for (const f of fs.readdirSync(outbox).filter((n) => n.endsWith('.eml'))) {
      const text = fs.readFileSync(path.join(outbox, f), 'utf8');
      if (text.includes(`To: ${to}`)) return text.replace(/=\r?\n/g, '').replace(/=3D/g, '=').match(/token=([A-Za-z0-9_-]+)/)[1];
    }
    return null;
  });
}

/**
 * An owner (organiser token), a published free event and n registered participants
 * (credentials, participant ids) on server. prefix keeps emails apart between tests. Returns
 * once every node of nodes has the event in its cache (roles in the event are read from it;
 * a node hears of a change within about 100 ms).
 */
export async function setupEvent(server, outbox, { n, prefix, capacity = 100, nodes = [server] }) {
  const t = await eventSession(server, 'odeon.plugin.tickets');
  const owner = await t.request({ request: 'signup', email: `owner@${prefix}.example`, password: 'owner-password-1', name: 'Olga Owner', organisation: `${prefix} org` });
  await t.close();
  assert.ok(owner.token, JSON.stringify(owner));
  const o = await eventSession(server, 'odeon.plugin.tickets', owner.token);
  const ev = await o.request({ request: 'create_event', title: `${prefix} summit`, business_type: 'conference', starts_at: '2031-05-01T09:00', ends_at: '2031-05-01T17:00', timezone: 'UTC', capacity });
  const eventId = ev.event.id;
  const type = await o.request({ request: 'create_ticket_type', event_id: eventId, name: 'Free', price: 0, currency: 'eur', quantity: capacity });
  await o.request({ request: 'publish_event', event_id: eventId });
  const participants = [];
  for (let i = 0; i < n; i++) {
    const email = `p${i}@${prefix}.example`;
    const r = await o.request({ request: 'register', event_id: eventId, ticket_type_id: type.ticket_type.id, email, display_name: `Person ${i}`, ...TERMS });
    assert.equal(r.registration?.status, 'confirmed', JSON.stringify(r));
    const red = await o.request({ request: 'redeem_link', token: await linkTo(outbox, email) });
    participants.push({ credential: red.credential, id: r.registration.participant_id, subject: `participant:${r.registration.participant_id}`, name: `Person ${i}` });
  }
  await o.close();
  for (const node of nodes) {
    await waitFor(`event ${eventId} on ${node.httpBase}`, async () => (await getUrl(`${node.httpBase}/api/events/${eventId}`)).status === 200);
  }
  return { owner, eventId, participants };
}

/** A message_plugin admin request to plugin on server; the plugin's answer. */
export async function adminPlugin(server, plugin, body) {
  const res = await adminPost(server, { janus: 'message_plugin', plugin, request: body, admin_secret: server.adminSecret, transaction: tx('a') });
  const reply = res.json;
  assert.equal(reply.janus, 'success', JSON.stringify(reply));
  return reply.response;
}
