// odeon.plugin.tickets against a real throwaway PostgreSQL, the fake Stripe
// (tests/fakes/stripe.mjs) and, for the last test, the SMTP sink (tests/fakes/smtp.mjs). One
// server and one database for the whole file: an organisation A (owner, organiser and host,
// the latter two invited by email), an organisation B (its owner is "another organisation"),
// and participants of two of A's events signed in with magic links from the outbox folder.
//
// Covered (docs/api.md, the odeon.plugin.tickets section): the authorisation matrix of every
// request for every kind of caller, with nothing stored on a refusal; concurrent purchases at
// the capacity limit (free and paid); the paid flow through Stripe Connect, Checkout and the
// signed webhook (replays, bad signatures, expiry); magic links (single use, expiry, no
// enumeration, one participant only); the login rate limit and removed members; hostile and
// oversized input; the public GET /api/events; mail through SMTP. Odeon only.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { freePorts, isJanus, makeTempDir, sleep, startServer } from './harness.mjs';
import { SQL_DIR, createDatabase } from './pg.mjs';
import { startFakeStripe } from '../fakes/stripe.mjs';
import { startSmtpSink } from '../fakes/smtp.mjs';
import {
  inviteToken, linkHash, linkParam, lit, magicToken, mailsTo, openDb, outboxMails, parseMail,
  ticketsCreate, ticketsSession, waitForMails,
} from './tickets_client.mjs';

const SKIP = isJanus ? 'odeon-only (tickets plugin)' : false;
const PID = process.pid;
const TOKEN_SECRET = `tickets-integration-secret-${'x'.repeat(24)}`;
const STRIPE = { secretKey: 'sk_test_tickets_it', clientId: 'ca_tickets_it', webhookSecret: 'whsec_tickets_it' };
const PASSWORD = 'correct horse battery staple';
const TERMS = { accept_terms: true, accept_data_sharing: true, terms_version: '2026-01', consent_version: '2026-01' };
const ROLES = ['anonymous', 'participant', 'otherParticipant', 'host', 'organiser', 'owner', 'otherOrg'];

let seq = 0;
/** A fresh address (the plugin compares emails case-insensitively: keep them lower-case). */
function email(tag) {
  seq += 1;
  return `${tag}-${PID}-${seq}@example.org`;
}

function eventFields(over = {}) {
  return {
    title: `Event ${++seq}`, description: 'An event of the tickets integration test',
    business_type: 'meetup', starts_at: '2027-03-01T18:00', ends_at: '2027-03-01T21:00',
    timezone: 'Europe/Berlin', capacity: 1000, ...over,
  };
}

const FREE = { name: 'Free', price: 0, currency: 'eur', quantity: 1000 };

function ticketsConf({ site, outbox, stripe, mail }) {
  return [
    '[general]', `site_url = ${site}`, `token_secret = ${TOKEN_SECRET}`, '',
    '[mail]', ...(mail || [`outbox_dir = ${outbox}`]), '',
    ...(stripe ? ['[stripe]', `secret_key = ${STRIPE.secretKey}`, `client_id = ${STRIPE.clientId}`,
      `webhook_secret = ${STRIPE.webhookSecret}`, `api_base = ${stripe.url}`,
      `connect_base = ${stripe.url}`, 'timeout_ms = 5000', ''] : []),
  ].join('\n');
}

// ---- tokens made here, with the key the plugin derives from token_secret ----

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function forgeToken(claims, secret = TOKEN_SECRET) {
  const key = crypto.createHmac('sha256', secret).update('odeon tickets token key v1').digest();
  const sorted = Object.fromEntries(Object.keys(claims).sort().map((k) => [k, claims[k]]));
  const signed = `odt1.${b64url(JSON.stringify(sorted))}`;
  return `${signed}.${b64url(crypto.createHmac('sha256', key).update(signed).digest())}`;
}

describe('odeon.plugin.tickets', { skip: SKIP }, () => {
  let db;
  let pg; // a psql session on db
  const q = (sql) => pg.query(sql);
  let fake;
  let server;
  let site;
  let confDir;
  let outbox;
  const S = {}; // role -> open session
  const T = {}; // role -> token / credential
  const U = {}; // people: {id, email, token}
  const F = {}; // fixtures: ids of events and ticket types
  const extra = []; // other sessions to close at the end

  async function session(token) {
    const s = await ticketsSession(server, token);
    extra.push(s);
    return s;
  }

  /** A draft event of the session's organisation, with ticket types; returns {event, types}. */
  async function draft(sess, fields = {}, types = [FREE]) {
    const { event } = await sess.ok('create_event', eventFields(fields));
    const made = [];
    for (const t of types) {
      made.push((await sess.ok('create_ticket_type', { event_id: event.id, ...t })).ticket_type);
    }
    return { event, types: made };
  }

  async function live(sess, fields = {}, types = [FREE]) {
    const d = await draft(sess, fields, types);
    const { event } = await sess.ok('publish_event', { event_id: d.event.id });
    assert.equal(event.status, 'live');
    return { event, types: d.types };
  }

  /** Registers addr (free ticket) and redeems the link it gets; returns the redeem reply. */
  async function signInParticipant(eventId, typeId, addr, name = 'Pat Participant') {
    const before = mailsTo(outbox, addr).length;
    const r = await S.anonymous.ok('register', { event_id: eventId, ticket_type_id: typeId, email: addr, display_name: name, ...TERMS });
    assert.equal(r.registration.status, 'confirmed');
    const token = await magicToken(outbox, addr, before + 1);
    return S.anonymous.ok('redeem_link', { token });
  }

  /** Invites addr into A with role and accepts; returns the accept_invite reply. */
  async function member(addr, role, name) {
    const before = mailsTo(outbox, addr).length;
    await S.owner.ok('add_member', { email: addr, role });
    const invite = await inviteToken(outbox, addr, before + 1);
    return S.anonymous.ok('accept_invite', { invite, name, password: PASSWORD });
  }

  /** Follows Stripe Connect for the owner session: {code, state} from the fake's redirect. */
  async function connectCode(sess) {
    const { url } = await sess.ok('stripe_connect_url', {});
    assert.ok(url.startsWith(`${fake.url}/oauth/authorize?`), `authorize URL: ${url}`);
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 302, `the fake's authorize page: HTTP ${res.status}`);
    const back = new URL(res.headers.get('location'));
    assert.equal(`${back.origin}${back.pathname}`, `${site}/console.html`, 'returns to the console by default');
    return { code: back.searchParams.get('code'), state: back.searchParams.get('state') };
  }

  before(async () => {
    db = createDatabase('odeon_tickets');
    pg = openDb(db);
    fake = await startFakeStripe(STRIPE);
    const [http, admin] = await freePorts(2);
    site = `http://127.0.0.1:${http}`;
    confDir = makeTempDir('odeon-tickets-conf-');
    outbox = path.join(confDir, 'outbox');
    fs.mkdirSync(outbox);
    fs.writeFileSync(path.join(confDir, 'tickets.conf'), ticketsConf({ site, outbox, stripe: fake }));
    server = await startServer({
      plugins: ['tickets'], pluginsConfigDir: confDir, sqlDir: SQL_DIR, ports: { http, admin },
      extraConfig: `[database]\nconninfo = ${db}\n`,
    });
    fake.webhookUrl = `${site}/api/stripe/webhook`;

    S.anonymous = await ticketsSession(server);
    // Organisation A: the owner signs up and invites an organiser and a host.
    U.owner = { email: email('owner') };
    const a = await S.anonymous.ok('signup', { email: U.owner.email, password: PASSWORD, name: 'Owen Owner', organisation: 'Org A' });
    assert.equal(a.role, 'owner');
    T.owner = a.token;
    U.owner.id = a.user.id;
    F.orgA = a.organisation.id;
    S.owner = await ticketsSession(server, T.owner);
    for (const role of ['organiser', 'host']) {
      U[role] = { email: email(role) };
      const r = await member(U[role].email, role, `${role[0].toUpperCase()}${role.slice(1)} Person`);
      assert.equal(r.role, role);
      assert.equal(r.organisation.id, F.orgA);
      T[role] = r.token;
      U[role].id = r.user.id;
      S[role] = await ticketsSession(server, T[role]);
    }
    // Organisation B.
    U.otherOrg = { email: email('other-owner') };
    const b = await S.anonymous.ok('signup', { email: U.otherOrg.email, password: PASSWORD, name: 'Bea Other', organisation: 'Org B' });
    T.otherOrg = b.token;
    U.otherOrg.id = b.user.id;
    F.orgB = b.organisation.id;
    S.otherOrg = await ticketsSession(server, T.otherOrg);
    // Two live free events of A, a participant signed in on each.
    const e = await live(S.organiser, { title: 'Main event' });
    F.event = e.event.id;
    F.type = e.types[0].id;
    const e2 = await live(S.organiser, { title: 'Second event' });
    F.event2 = e2.event.id;
    F.type2 = e2.types[0].id;
    U.participant = { email: email('participant') };
    const p = await signInParticipant(F.event, F.type, U.participant.email);
    T.participant = p.credential;
    U.participant.id = p.participant.id;
    U.otherParticipant = { email: email('other-participant') };
    const p2 = await signInParticipant(F.event2, F.type2, U.otherParticipant.email);
    T.otherParticipant = p2.credential;
    U.otherParticipant.id = p2.participant.id;
    S.participant = await ticketsSession(server, T.participant);
    S.otherParticipant = await ticketsSession(server, T.otherParticipant);
  });

  afterEach((t) => {
    if (server && t.passed === false) server.printLogs(`after failed test "${t.name}"`);
  });

  after(async () => {
    for (const s of [...Object.values(S), ...extra]) await s.close().catch(() => {});
    if (server) await server.stop();
    if (fake) await fake.close();
    if (pg) await pg.close();
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------------------
  test('identities: whoami of every kind of caller; bad tokens are refused at create', async () => {
    assert.deepEqual((await S.anonymous.ok('whoami')).identity, null);
    const o = (await S.owner.ok('whoami')).identity;
    assert.equal(o.kind, 'organiser');
    assert.equal(o.id, U.owner.id);
    assert.equal(o.role, 'owner');
    assert.equal(String(o.organisation), String(F.orgA));
    const h = (await S.host.ok('whoami')).identity;
    assert.equal(h.role, 'host');
    const p = (await S.participant.ok('whoami')).identity;
    assert.equal(p.kind, 'participant');
    assert.equal(p.id, U.participant.id);
    assert.equal(p.event_id, F.event);

    const now = Math.floor(Date.now() / 1000);
    const refused = {
      garbage: 'not-a-token',
      'wrong key': forgeToken({ typ: 'participant', pid: U.participant.id, ev: F.event, name: 'x', iat: now, exp: now + 3600 }, 'another-secret-of-32-characters-or-more'),
      expired: forgeToken({ typ: 'participant', pid: U.participant.id, ev: F.event, name: 'x', iat: now - 7200, exp: now - 60 }),
      'OAuth state as a token': forgeToken({ typ: 'stripe_state', org: F.orgA, uid: U.owner.id, exp: now + 600 }),
      tampered: T.host.replace(/\.[^.]+\./, (m) => `.${b64url(JSON.stringify({ exp: now + 3600, iat: now, name: 'H', org: F.orgA, role: 'owner', typ: 'organiser', uid: U.host.id }))}.`),
    };
    for (const [what, token] of Object.entries(refused)) {
      const { ws, reply } = await ticketsCreate(server, token);
      await ws.close();
      assert.equal(reply.janus, 'error', `${what}: ${JSON.stringify(reply)}`);
      assert.equal(reply.error.code, 403, `${what}: ${JSON.stringify(reply)}`);
    }
    // A well-signed credential made here is accepted: the forging above is the real format.
    const good = forgeToken({ typ: 'participant', pid: U.participant.id, ev: F.event, name: 'Forged OK', iat: now, exp: now + 600 });
    const s = await session(good);
    assert.equal((await s.ok('whoami')).identity.id, U.participant.id);
  });

  // -------------------------------------------------------------------------------------
  test('paid flow: Stripe Connect, Checkout, signed webhook, replay, bad signatures, expiry', async () => {
    const owner = S.owner;
    assert.equal((await owner.ok('stripe_status')).connected, false);
    const paidType = { name: 'Standard', price: 1500, currency: 'EUR', quantity: 10 };
    const d = await draft(S.organiser, { title: 'Paid conference', business_type: 'conference' }, [paidType]);
    assert.equal(d.types[0].currency, 'eur');
    assert.equal(d.types[0].free, false);
    // Paid tickets need Stripe: going live is refused and nothing changes.
    let snap = await pg.snapshot();
    await S.organiser.fail('publish_event', { event_id: d.event.id }, 485);
    await pg.assertUnchanged(snap, 'publish with a paid ticket before connecting');

    // A state from elsewhere is refused; the real one connects the organisation.
    const { code, state } = await connectCode(owner);
    assert.match(code, /^ac_/);
    snap = await pg.snapshot();
    await owner.fail('stripe_connect_complete', { code, state: `${state}x` }, 482);
    await owner.fail('stripe_connect_complete', { code: "ac_'; DROP TABLE x; --", state }, 482);
    await pg.assertUnchanged(snap, 'stripe_connect_complete with a bad state or code');
    const done = await owner.ok('stripe_connect_complete', { code, state });
    assert.match(done.stripe_account_id, /^acct_/);
    F.account = done.stripe_account_id;
    assert.equal(await q(`SELECT stripe_account_id FROM tickets_organisations WHERE id = ${F.orgA}`), F.account);
    const st = await owner.ok('stripe_status');
    assert.equal(st.connected, true);
    assert.equal(st.stripe_account_id, F.account);
    // A code works once.
    await owner.fail('stripe_connect_complete', { code, state }, 488);
    assert.equal(await q(`SELECT stripe_account_id FROM tickets_organisations WHERE id = ${F.orgA}`), F.account);

    await S.organiser.ok('publish_event', { event_id: d.event.id });
    const eventId = d.event.id;
    const typeId = d.types[0].id;
    F.paidEvent = eventId;

    // Register -> pending order holding a seat, Checkout on the fake.
    const buyer = email('buyer');
    const r = await S.anonymous.ok('register', { event_id: eventId, ticket_type_id: typeId, email: buyer, display_name: 'Bo Buyer', ...TERMS });
    assert.equal(r.order.status, 'pending');
    assert.ok(r.checkout_url.startsWith(`${fake.url}/pay/`), r.checkout_url);
    const sid = r.checkout_url.split('/').pop();
    const cs = fake.sessions.get(sid);
    assert.ok(cs, 'the fake has the session');
    assert.equal(cs.amount_total, 1500);
    assert.equal(cs.currency, 'eur');
    assert.equal(cs.customer_email, buyer);
    assert.equal(await q(`SELECT status || ' ' || stripe_session_id FROM tickets_orders WHERE id = ${r.order.id}`), `pending ${sid}`);
    assert.equal(await q(`SELECT sold FROM tickets_ticket_types WHERE id = ${typeId}`), '1');
    assert.equal(await q(`SELECT sold FROM tickets_events WHERE id = ${eventId}`), '1');
    assert.equal(mailsTo(outbox, buyer).length, 0, 'no sign-in link before the payment');

    // Paid: the webhook confirms the order and a sign-in link goes out.
    const paid = await fake.pay(sid);
    const delivery = fake.deliveries.at(-1);
    assert.equal(delivery.event.id, paid.id);
    assert.equal(delivery.status, 200, `webhook answered ${delivery.status} ${delivery.body || delivery.error}`);
    assert.equal(await q(`SELECT status FROM tickets_orders WHERE id = ${r.order.id}`), 'confirmed');
    const token = await magicToken(outbox, buyer, 1);
    const signedIn = await S.anonymous.ok('redeem_link', { token });
    assert.equal(signedIn.participant.email, buyer);
    const buyerSession = await session(signedIn.credential);
    const reg = await buyerSession.ok('my_registration');
    assert.equal(reg.status, 'confirmed');
    assert.equal(reg.event.id, eventId);

    // A replay of the same event changes nothing and sends nothing.
    snap = await pg.snapshot();
    await fake.redeliver(paid.id);
    assert.equal(fake.deliveries.at(-1).status, 200);
    await sleep(400);
    await pg.assertUnchanged(snap, 'replayed checkout.session.completed');
    assert.equal(mailsTo(outbox, buyer).length, 1, 'a replay sends no second link');

    // A second buyer; forged and broken webhooks are refused and change nothing.
    const buyer2 = email('buyer');
    const r2 = await S.anonymous.ok('register', { event_id: eventId, ticket_type_id: typeId, email: buyer2, display_name: 'Bea Buyer', ...TERMS });
    const sid2 = r2.checkout_url.split('/').pop();
    assert.equal(await q(`SELECT sold FROM tickets_ticket_types WHERE id = ${typeId}`), '2');
    const forged = JSON.stringify({
      id: `evt_forged${PID}`, object: 'event', type: 'checkout.session.completed', account: F.account,
      data: { object: { ...fake.sessions.get(sid2), status: 'complete', payment_status: 'paid' } },
    });
    const t = Math.floor(Date.now() / 1000);
    const wrongKey = crypto.createHmac('sha256', 'whsec_wrong').update(`${t}.${forged}`).digest('hex');
    const attempts = {
      'wrong secret': { 'Stripe-Signature': `t=${t},v1=${wrongKey}` },
      'no header': {},
      'signature of another body': { 'Stripe-Signature': fake.sign(forged.replace('paid', 'unpaid'), t) },
      'too old (10 minutes)': { 'Stripe-Signature': fake.sign(forged, t - 600) },
      garbage: { 'Stripe-Signature': 'v1=zzz' },
    };
    snap = await pg.snapshot();
    for (const [what, headers] of Object.entries(attempts)) {
      const res = await fetch(`${site}/api/stripe/webhook`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: forged });
      assert.equal(res.status, 400, `${what}: HTTP ${res.status} ${await res.text()}`);
    }
    await sleep(300);
    await pg.assertUnchanged(snap, 'webhooks with bad signatures');
    assert.equal(mailsTo(outbox, buyer2).length, 0);
    assert.equal(await q(`SELECT status FROM tickets_orders WHERE id = ${r2.order.id}`), 'pending');

    // The session expires: the seat comes back.
    await fake.expire(sid2);
    assert.equal(fake.deliveries.at(-1).status, 200);
    assert.equal(await q(`SELECT status FROM tickets_orders WHERE id = ${r2.order.id}`), 'released');
    assert.equal(await q(`SELECT sold FROM tickets_ticket_types WHERE id = ${typeId}`), '1');
    assert.equal(await q(`SELECT sold FROM tickets_events WHERE id = ${eventId}`), '1');
    const regs = (await S.host.ok('list_registrations', { event_id: eventId })).registrations;
    assert.deepEqual(regs.map((x) => [x.email, x.status]), [[buyer, 'confirmed']]);
  });

  // -------------------------------------------------------------------------------------
  test('concurrent registrations at the capacity limit never oversell (free)', async () => {
    const e = await live(S.organiser, { title: 'Small room', capacity: 5 }, [{ ...FREE, quantity: 100 }]);
    const sessions = [];
    for (let i = 0; i < 8; i++) sessions.push(await session());
    const emails = Array.from({ length: 40 }, () => email('rush'));
    const replies = await Promise.all(emails.map((addr, i) => sessions[i % sessions.length].request('register', {
      event_id: e.event.id, ticket_type_id: e.types[0].id, email: addr, display_name: `Rusher ${i}`, ...TERMS,
    })));
    const okReplies = replies.filter((x) => x.tickets === 'register');
    const soldOut = replies.filter((x) => x.tickets === 'error' && x.error_code === 486);
    assert.equal(okReplies.length, 5, `confirmed: ${okReplies.length}; others: ${JSON.stringify(replies.filter((x) => x.tickets === 'error' && x.error_code !== 486))}`);
    assert.equal(soldOut.length, 35);
    for (const x of okReplies) assert.equal(x.registration.status, 'confirmed');
    assert.equal(await q(`SELECT sold || ' ' || capacity FROM tickets_events WHERE id = ${e.event.id}`), '5 5');
    assert.equal(await q(`SELECT sold FROM tickets_ticket_types WHERE id = ${e.types[0].id}`), '5');
    assert.equal(await q(`SELECT count(*) FROM tickets_orders WHERE event_id = ${e.event.id} AND status = 'confirmed'`), '5');
    assert.equal(await q(`SELECT count(*) FROM tickets_orders WHERE event_id = ${e.event.id}`), '5');
    assert.equal(await q(`SELECT count(*) FROM tickets_participants WHERE event_id = ${e.event.id}`), '5');
    assert.equal(await q(`SELECT count(*) FROM tickets_consents c JOIN tickets_participants p ON p.id = c.participant_id WHERE p.event_id = ${e.event.id}`), '10');
    const winners = new Set((await q(`SELECT email FROM tickets_participants WHERE event_id = ${e.event.id}`)).split('\n'));
    for (const addr of emails) {
      if (!winners.has(addr)) assert.equal(mailsTo(outbox, addr).length, 0, `${addr} got mail without a seat`);
    }
    for (const addr of winners) await waitForMails(outbox, addr, 1);
    await S.anonymous.fail('register', { event_id: e.event.id, ticket_type_id: e.types[0].id, email: email('late'), display_name: 'Late', ...TERMS }, 486);
  });

  test('concurrent registrations at the capacity limit never oversell (paid; pending orders hold seats)', async () => {
    assert.ok(F.account, 'needs the Stripe connection of the paid flow test');
    const e = await live(S.organiser, { title: 'Paid small room', capacity: 100 }, [{ name: 'Paid', price: 2500, currency: 'eur', quantity: 5 }]);
    const typeId = e.types[0].id;
    const sessions = [];
    for (let i = 0; i < 8; i++) sessions.push(await session());
    const emails = Array.from({ length: 40 }, () => email('paid-rush'));
    const replies = await Promise.all(emails.map((addr, i) => sessions[i % sessions.length].request('register', {
      event_id: e.event.id, ticket_type_id: typeId, email: addr, display_name: `Payer ${i}`, ...TERMS,
    })));
    const okReplies = replies.filter((x) => x.tickets === 'register');
    const soldOut = replies.filter((x) => x.tickets === 'error' && x.error_code === 486);
    assert.equal(okReplies.length, 5, `pending: ${okReplies.length}; others: ${JSON.stringify(replies.filter((x) => x.tickets === 'error' && x.error_code !== 486))}`);
    assert.equal(soldOut.length, 35);
    for (const x of okReplies) {
      assert.equal(x.order.status, 'pending');
      assert.ok(x.checkout_url.startsWith(`${fake.url}/pay/`));
    }
    const sold = () => q(`SELECT t.sold || ' ' || e.sold FROM tickets_ticket_types t JOIN tickets_events e ON e.id = t.event_id WHERE t.id = ${typeId}`);
    assert.equal(await sold(), '5 5');
    assert.equal(await q(`SELECT count(*) FROM tickets_orders WHERE ticket_type_id = ${typeId} AND status = 'pending'`), '5');
    assert.equal(await q(`SELECT count(*) FROM tickets_orders WHERE ticket_type_id = ${typeId}`), '5');
    // Seats held by pending orders: nobody else gets one.
    await S.anonymous.fail('register', { event_id: e.event.id, ticket_type_id: typeId, email: email('paid-late'), display_name: 'Late', ...TERMS }, 486);
    // One session expires: its seat comes back, and goes to the next buyer.
    const sid = okReplies[0].checkout_url.split('/').pop();
    await fake.expire(sid);
    assert.equal(fake.deliveries.at(-1).status, 200);
    assert.equal(await sold(), '4 4');
    const next = await S.anonymous.ok('register', { event_id: e.event.id, ticket_type_id: typeId, email: email('paid-next'), display_name: 'Next', ...TERMS });
    assert.equal(next.order.status, 'pending');
    assert.equal(await sold(), '5 5');
    await S.anonymous.fail('register', { event_id: e.event.id, ticket_type_id: typeId, email: email('paid-late'), display_name: 'Late', ...TERMS }, 486);
    // Paying one of the held seats confirms it without taking another.
    await fake.pay(okReplies[1].checkout_url.split('/').pop());
    assert.equal(fake.deliveries.at(-1).status, 200);
    assert.equal(await sold(), '5 5');
    assert.equal(await q(`SELECT count(*) FROM tickets_orders WHERE ticket_type_id = ${typeId} AND status = 'confirmed'`), '1');
  });

  // -------------------------------------------------------------------------------------
  test('authorisation matrix: every request x every kind of caller', async () => {
    // Fixtures of organisation A that the requests act on.
    const D = await draft(S.organiser, { title: 'Matrix draft' });
    const freshDraft = async () => (await draft(S.organiser, { title: 'Matrix throwaway' })).event.id;
    const freshType = async () => (await S.organiser.ok('create_ticket_type', { event_id: D.event.id, name: 'Throwaway', price: 0, currency: 'eur', quantity: 3 })).ticket_type.id;
    const victim = await member(email('matrix-victim'), 'host', 'Matrix Victim');
    const loginEmail = email('matrix-login');
    await S.anonymous.ok('signup', { email: loginEmail, password: PASSWORD, name: 'Login Person', organisation: 'Org L' });
    const connectPair = await connectCode(S.owner); // refusals use this one; it stays unused

    // The event's breakout brought to a state (by the owner) before a breakout request is tried.
    const breakoutNow = async () => (await S.owner.ok('breakout_get', { event_id: F.event })).breakout;
    const breakoutEnded = async () => {
      if ((await breakoutNow())?.state === 'running') await S.owner.ok('breakout_end', { event_id: F.event });
    };
    const breakoutDraft = async () => {
      const b = await breakoutNow();
      if (b?.state === 'draft') return b;
      await breakoutEnded();
      return (await S.owner.ok('breakout_preview', { event_id: F.event, group_size: 2, include: 'registered' })).breakout;
    };
    const breakoutRunning = async () => {
      const b = await breakoutNow();
      if (b?.state === 'running') return b;
      await breakoutDraft();
      return (await S.owner.ok('breakout_start', { event_id: F.event, minutes: 30 })).breakout;
    };

    const all = new Set(ROLES);
    const hostPlus = ['host', 'organiser', 'owner', 'otherOrg'];
    const orgPlus = ['organiser', 'owner', 'otherOrg'];
    const A = (...roles) => new Set(roles);
    // deny: the code for a refused caller (483 unless named); body(role, allowed, session).
    const matrix = [
      { req: 'signup', allow: all, body: () => ({ email: email('matrix-signup'), password: PASSWORD, name: 'New Person', organisation: 'New Org' }) },
      { req: 'login', allow: all, body: () => ({ email: loginEmail, password: PASSWORD }), check: (r) => assert.ok(r.token) },
      {
        req: 'whoami', allow: all, body: () => ({}),
        check: (r, role) => {
          if (role === 'anonymous') return assert.equal(r.identity, null);
          assert.equal(r.identity.kind, role.endsWith('articipant') ? 'participant' : 'organiser');
          assert.equal(r.identity.id, U[role].id);
          assert.equal(typeof r.identity.expires_at, 'string', `whoami of ${role} has no expires_at: ${JSON.stringify(r.identity)}`);
          if (r.identity.kind === 'participant') assert.equal(r.identity.event_id, role === 'participant' ? F.event : F.event2);
        },
      },
      {
        req: 'refresh', allow: A('participant', 'otherParticipant', 'host', 'organiser', 'owner', 'otherOrg'), body: () => ({}),
        check: async (r, role) => {
          assert.ok(r.token && r.expires_at);
          const s = await session(r.token);
          assert.equal((await s.ok('whoami')).identity.id, U[role].id);
        },
      },
      { req: 'add_member', allow: A('owner', 'otherOrg'), body: () => ({ email: email('matrix-invitee'), role: 'host' }) },
      {
        req: 'accept_invite', allow: all,
        body: async () => {
          const addr = email('matrix-accept');
          await S.owner.ok('add_member', { email: addr, role: 'host' });
          return { invite: await inviteToken(outbox, addr), name: 'Accepted', password: PASSWORD };
        },
        check: (r) => assert.equal(r.role, 'host'),
      },
      {
        req: 'list_members', allow: A(...hostPlus), body: () => ({}),
        check: (r, role) => {
          const emails = r.members.map((m) => m.email);
          if (role === 'otherOrg') assert.deepEqual(emails, [U.otherOrg.email]);
          else assert.ok(emails.includes(U.owner.email) && emails.includes(U.host.email) && !emails.includes(U.otherOrg.email));
        },
      },
      { req: 'remove_member', allow: A('owner'), deny: { otherOrg: 484 }, body: () => ({ user_id: victim.user.id }) },
      { req: 'list_events', allow: all, body: () => ({ per_page: 5 }), check: (r) => assert.ok(Array.isArray(r.events) && r.total >= 2) },
      {
        req: 'event', allow: A('host', 'organiser', 'owner'),
        deny: { anonymous: 484, participant: 484, otherParticipant: 484, otherOrg: 484 },
        body: () => ({ event_id: D.event.id }),
        check: (r) => {
          assert.equal(r.event.status, 'draft');
          assert.equal(r.ticket_types.length, 1);
        },
      },
      {
        req: 'my_events', allow: A(...hostPlus), body: () => ({}),
        check: (r, role) => {
          const ids = r.events.map((e) => e.id);
          assert.equal(ids.includes(D.event.id), role !== 'otherOrg');
          assert.equal(ids.includes(F.event), role !== 'otherOrg');
        },
      },
      { req: 'create_event', allow: A(...orgPlus), body: () => eventFields({ title: 'Matrix created' }), check: (r, role) => assert.equal(r.event.organisation.id, role === 'otherOrg' ? F.orgB : F.orgA) },
      { req: 'update_event', allow: A('organiser', 'owner'), deny: { otherOrg: 484 }, body: (role) => ({ event_id: D.event.id, title: `Matrix draft by ${role}` }) },
      { req: 'delete_event', allow: A('organiser', 'owner'), deny: { otherOrg: 484 }, body: async (role, allowed) => ({ event_id: allowed ? await freshDraft() : D.event.id }) },
      { req: 'publish_event', allow: A('organiser', 'owner'), deny: { otherOrg: 484 }, body: async (role, allowed) => ({ event_id: allowed ? await freshDraft() : D.event.id }) },
      { req: 'create_ticket_type', allow: A('organiser', 'owner'), deny: { otherOrg: 484 }, body: () => ({ event_id: D.event.id, name: 'Matrix type', price: 0, currency: 'eur', quantity: 5 }) },
      { req: 'update_ticket_type', allow: A('organiser', 'owner'), deny: { otherOrg: 484 }, body: (role) => ({ ticket_type_id: D.types[0].id, name: `Type by ${role}` }) },
      { req: 'delete_ticket_type', allow: A('organiser', 'owner'), deny: { otherOrg: 484 }, body: async (role, allowed) => ({ ticket_type_id: allowed ? await freshType() : D.types[0].id }) },
      {
        req: 'list_registrations', allow: A('host', 'organiser', 'owner'), deny: { otherOrg: 484 }, body: () => ({ event_id: F.event }),
        check: (r) => assert.ok(r.registrations.some((x) => x.email === U.participant.email)),
      },
      { req: 'stripe_connect_url', allow: A('owner', 'otherOrg'), body: () => ({}), check: (r) => assert.ok(r.url.startsWith(fake.url)) },
      {
        req: 'stripe_connect_complete', allow: A('owner', 'otherOrg'),
        // B's owner holding A's state: not theirs (an invalid element), nothing connected.
        denyFirst: { otherOrg: { code: 482, body: () => connectPair } },
        body: async (role, allowed, sess) => (allowed ? connectCode(sess) : connectPair),
        check: (r) => assert.match(r.stripe_account_id, /^acct_/),
      },
      { req: 'stripe_status', allow: A(...hostPlus), body: () => ({}), check: (r) => assert.equal(typeof r.payments_enabled, 'boolean') },
      {
        req: 'register', allow: all,
        body: () => ({ event_id: F.event, ticket_type_id: F.type, email: email('matrix-register'), display_name: 'Matrix Registrant', ...TERMS }),
        check: (r) => assert.equal(r.registration.status, 'confirmed'),
      },
      { req: 'request_link', allow: all, body: () => ({ event_id: F.event, email: email('matrix-nobody') }), check: (r) => assert.equal(r.sent, true) },
      {
        req: 'redeem_link', allow: all,
        body: async () => {
          const addr = email('matrix-redeem');
          await S.anonymous.ok('register', { event_id: F.event, ticket_type_id: F.type, email: addr, display_name: 'Matrix Redeemer', ...TERMS });
          return { token: await magicToken(outbox, addr) };
        },
        check: (r) => assert.ok(r.credential),
      },
      {
        req: 'my_registration', allow: A('participant', 'otherParticipant'), body: () => ({}),
        check: (r, role) => {
          assert.equal(r.participant.id, U[role].id);
          assert.equal(r.event.id, role === 'participant' ? F.event : F.event2);
          assert.equal(r.status, 'confirmed');
        },
      },
      // Breakouts (F.event: organisation A's live event, its registrations split in twos).
      { req: 'breakout_get', allow: A('host', 'organiser', 'owner'), deny: { otherOrg: 484 }, body: () => ({ event_id: F.event }), check: (r) => assert.ok('breakout' in r) },
      {
        req: 'breakout_preview', allow: A('organiser', 'owner'), deny: { otherOrg: 484 },
        body: async (role, allowed) => {
          if (allowed) await breakoutEnded();
          return { event_id: F.event, group_size: 2, include: 'registered' };
        },
        check: (r) => assert.equal(r.breakout.state, 'draft'),
      },
      {
        req: 'breakout_move', allow: A('organiser', 'owner'), deny: { otherOrg: 484 },
        body: async () => {
          const b = await breakoutDraft();
          return { event_id: F.event, participant_id: b.groups[0].members[0].participant_id, group_id: b.groups[b.groups.length - 1].id };
        },
        check: (r) => assert.equal(r.breakout.state, 'draft'),
      },
      {
        req: 'breakout_start', allow: A('organiser', 'owner'), deny: { otherOrg: 484 },
        body: async (role, allowed) => {
          if (allowed) await breakoutDraft();
          return { event_id: F.event, minutes: 30 };
        },
        check: (r) => assert.equal(r.breakout.state, 'running'),
      },
      {
        req: 'breakout_extend', allow: A('organiser', 'owner'), deny: { otherOrg: 484 },
        body: async (role, allowed) => {
          if (allowed) await breakoutRunning();
          return { event_id: F.event, minutes: 5 };
        },
        check: (r) => assert.equal(r.breakout.state, 'running'),
      },
      {
        req: 'breakout_end', allow: A('organiser', 'owner'), deny: { otherOrg: 484 },
        body: async (role, allowed) => {
          if (allowed) await breakoutRunning();
          return { event_id: F.event };
        },
        check: (r) => assert.equal(r.breakout.state, 'ended'),
      },
      { req: 'set_team', allow: A('organiser', 'owner'), deny: { otherOrg: 484 }, body: () => ({ event_id: F.event, participant_id: U.participant.id, team: 'Matrix team' }), check: (r) => assert.equal(r.team, 'Matrix team') },
      { req: 'breakout_mine', allow: A('participant', 'otherParticipant'), body: () => ({}), check: (r) => assert.ok('group' in r) },
      {
        req: 'submit', allow: A('participant'), deny: { otherParticipant: 484 },
        body: async (role, allowed) => {
          if (allowed) await breakoutRunning();
          return { title: 'Matrix submission', link: 'https://example.org/matrix' };
        },
        check: (r) => assert.equal(r.submission.title, 'Matrix submission'),
      },
      { req: 'submissions', allow: A('host', 'organiser', 'owner'), deny: { otherOrg: 484 }, body: () => ({ event_id: F.event }), check: (r) => assert.ok(Array.isArray(r.submissions)) },
    ];

    const failures = [];
    const cells = { allowed: 0, refused: 0 };
    for (const row of matrix) {
      // Refusals first: an allowed call may remove what a refused one is tried on.
      const order = [...ROLES].sort((x, y) => Number(row.allow.has(x)) - Number(row.allow.has(y)));
      const specials = Object.entries(row.denyFirst || {});
      for (const [role, { code, body }] of specials) {
        await cell(row, role, false, code, await body());
      }
      for (const role of order) {
        const allowed = row.allow.has(role);
        const body = await row.body(role, allowed, S[role]);
        await cell(row, role, allowed, allowed ? null : (row.deny?.[role] ?? 483), body);
      }
    }
    async function cell(row, role, allowed, code, body) {
      const label = `${row.req} as ${role}`;
      try {
        if (allowed) {
          cells.allowed += 1;
          const r = await S[role].ok(row.req, body);
          if (row.check) await row.check(r, role);
        } else {
          cells.refused += 1;
          const snap = await pg.snapshot();
          const mails = outboxMails(outbox).length;
          await S[role].fail(row.req, body, code);
          await pg.assertUnchanged(snap, label);
          await sleep(20);
          assert.equal(outboxMails(outbox).length, mails, `${label}: a refused request sent mail`);
        }
      } catch (err) {
        failures.push(`${label}: ${err.message.split('\n')[0]}`);
      }
    }
    // The owner's remove_member took effect.
    assert.equal(await q(`SELECT count(*) FROM tickets_members WHERE user_id = ${victim.user.id}`), '0');
    // Every request the spec lists is in the matrix.
    const spec = fs.readFileSync(path.join(SQL_DIR, '..', 'docs', 'api.md'), 'utf8').split('### `odeon.plugin.tickets`')[1].split('\n### ')[0];
    const documented = [...spec.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(matrix.map((r) => r.req).sort(), [...new Set(documented)].sort());
    assert.equal(cells.allowed + cells.refused, matrix.length * ROLES.length + 1);
    assert.deepEqual(failures, [], `matrix cells that disagree with docs/api.md:\n${failures.join('\n')}`);
  });

  // -------------------------------------------------------------------------------------
  test('magic links: single use, expiry, no enumeration, one participant only', async () => {
    const addr = email('magic');
    const a = await signInParticipant(F.event, F.type, addr, 'Maggie Magic');
    assert.equal(a.participant.email, addr);
    assert.equal(a.participant.event_id, F.event);
    assert.equal(a.participant.display_name, 'Maggie Magic');
    const first = await magicToken(outbox, addr, 1);
    // Reuse: refused the second time, nothing changes.
    let snap = await pg.snapshot();
    await S.anonymous.fail('redeem_link', { token: first }, 483);
    await pg.assertUnchanged(snap, 'a used link');
    // The credential is that participant.
    const ps = await session(a.credential);
    const who = (await ps.ok('whoami')).identity;
    assert.equal(who.kind, 'participant');
    assert.equal(who.id, a.participant.id);
    assert.equal(who.event_id, F.event);
    assert.equal((await ps.ok('my_registration')).participant.email, addr);

    // A registered email gets exactly one new link.
    const linksBefore = Number(await q(`SELECT count(*) FROM tickets_magic_links WHERE participant_id = ${a.participant.id}`));
    assert.equal((await S.anonymous.ok('request_link', { event_id: F.event, email: addr.toUpperCase() })).sent, true);
    const second = await magicToken(outbox, addr, 2);
    await sleep(300);
    assert.equal(mailsTo(outbox, addr).length, 2, 'exactly one new message');
    assert.equal(Number(await q(`SELECT count(*) FROM tickets_magic_links WHERE participant_id = ${a.participant.id}`)), linksBefore + 1);
    // Expired: refused.
    await q(`UPDATE tickets_magic_links SET expires_at = now() - interval '1 second' WHERE token_hash = ${linkHash(second)}`);
    snap = await pg.snapshot();
    await S.anonymous.fail('redeem_link', { token: second }, 483);
    await pg.assertUnchanged(snap, 'an expired link');
    // Malformed and unknown tokens.
    await S.anonymous.fail('redeem_link', { token: 'A'.repeat(43) }, 483);
    const sqlish = await S.anonymous.request('redeem_link', { token: "' OR 1=1 --aaaaaaaaaaaaaaaaaaaa" });
    assert.ok([482, 483].includes(sqlish.error_code), JSON.stringify(sqlish));
    await S.anonymous.fail('redeem_link', {}, 481);

    // An unregistered email: the same answer, but nothing is sent or stored.
    const nobody = email('nobody');
    snap = await pg.snapshot();
    const mailCount = outboxMails(outbox).length;
    assert.deepEqual(await S.anonymous.ok('request_link', { event_id: F.event, email: nobody }), { tickets: 'request_link', sent: true });
    // The same for a registered email asked on another event, and an unknown event.
    assert.equal((await S.anonymous.ok('request_link', { event_id: F.event2, email: addr })).sent, true);
    assert.equal((await S.anonymous.ok('request_link', { event_id: 987654321, email: addr })).sent, true);
    await sleep(400);
    assert.equal(outboxMails(outbox).length, mailCount, 'nothing sent');
    await pg.assertUnchanged(snap, 'request_link without a registration');

    // The same email on two events is two participants: a link signs in only its own.
    const b = await signInParticipant(F.event2, F.type2, addr, 'Maggie Again');
    assert.equal(b.participant.event_id, F.event2);
    assert.notEqual(b.participant.id, a.participant.id);
    const n = mailsTo(outbox, addr).length;
    await S.anonymous.ok('request_link', { event_id: F.event, email: addr });
    const third = await magicToken(outbox, addr, n + 1);
    const c = await S.anonymous.ok('redeem_link', { token: third });
    assert.equal(c.participant.id, a.participant.id);
    assert.equal(c.participant.event_id, F.event);
    // A link stored for another address than its participant's signs in nobody.
    await S.anonymous.ok('request_link', { event_id: F.event, email: addr });
    const fourth = await magicToken(outbox, addr, n + 2);
    await q(`UPDATE tickets_magic_links SET email = 'someone-else@example.org' WHERE token_hash = ${linkHash(fourth)}`);
    await S.anonymous.fail('redeem_link', { token: fourth }, 483);

    // Registering again takes no second seat: a new link, already_registered.
    const sold = await q(`SELECT sold FROM tickets_events WHERE id = ${F.event}`);
    const mails = mailsTo(outbox, addr).length;
    const again = await S.anonymous.ok('register', { event_id: F.event, ticket_type_id: F.type, email: addr, display_name: 'Maggie Magic', ...TERMS });
    assert.equal(again.already_registered, true);
    assert.equal(again.registration.participant_id, a.participant.id);
    await waitForMails(outbox, addr, mails + 1);
    assert.equal(await q(`SELECT sold FROM tickets_events WHERE id = ${F.event}`), sold);
    assert.equal(await q(`SELECT count(*) FROM tickets_orders WHERE participant_id = ${a.participant.id}`), '1');
  });

  // -------------------------------------------------------------------------------------
  test('login rate limit; a removed member is signed out at once', async () => {
    const addr = email('limited');
    await S.anonymous.ok('signup', { email: addr, password: PASSWORD, name: 'Lim Ited', organisation: 'Org RL' });
    const other = email('unlimited');
    await S.anonymous.ok('signup', { email: other, password: PASSWORD, name: 'Un Limited', organisation: 'Org UL' });
    for (let i = 1; i <= 5; i++) {
      await S.anonymous.fail('login', { email: i % 2 ? addr : addr.toUpperCase(), password: `wrong password ${i}` }, 483);
    }
    assert.equal(await q(`SELECT count(*) FROM tickets_login_failures WHERE lower(email) = ${lit(addr)}`), '5');
    await S.anonymous.fail('login', { email: addr, password: PASSWORD }, 487);
    await S.anonymous.fail('login', { email: addr, password: 'wrong again' }, 487);
    // Counted per email: another account is not locked.
    assert.ok((await S.anonymous.ok('login', { email: other, password: PASSWORD })).token);
    // An unknown email answers like a wrong password.
    await S.anonymous.fail('login', { email: email('ghost'), password: PASSWORD }, 483);
    // The window passes (moved back in time here): the right password works again.
    await q(`UPDATE tickets_login_failures SET at = at - interval '16 minutes' WHERE lower(email) = ${lit(addr)}`);
    const ok = await S.anonymous.ok('login', { email: addr, password: PASSWORD });
    assert.equal(ok.role, 'owner');

    // Removal.
    const m = await member(email('removed'), 'organiser', 'Remy Removed');
    const before = await session(m.token);
    assert.equal((await before.ok('whoami')).identity.role, 'organiser');
    await S.organiser.fail('remove_member', { user_id: m.user.id }, 483);
    await S.otherOrg.fail('remove_member', { user_id: m.user.id }, 484);
    await S.owner.fail('remove_member', { user_id: U.owner.id }, 484); // owners cannot be removed
    assert.equal((await S.owner.ok('remove_member', { user_id: m.user.id })).removed, true);
    const { ws, reply } = await ticketsCreate(server, m.token);
    await ws.close();
    assert.equal(reply.janus, 'error', JSON.stringify(reply));
    assert.equal(reply.error.code, 403);
    // The session made before the removal has lost its rights too.
    const snap = await pg.snapshot();
    await before.fail('create_event', eventFields(), 483);
    await before.fail('list_members', {}, 483);
    await pg.assertUnchanged(snap, 'a removed member');
    // And logging in again gives no new token.
    await S.anonymous.fail('login', { email: m.user.email, password: PASSWORD }, 483);
    assert.ok(!(await S.owner.ok('list_members')).members.some((x) => x.id === m.user.id));
  });

  // -------------------------------------------------------------------------------------
  test('hostile and bad input: stored as given or refused cleanly, never half-stored', async () => {
    const org = S.organiser;
    const nasty = ["'; DROP TABLE tickets_events; --", '\\', '\\\\x00', '%', '_', '"double"', "'single'",
      'Zoë — 東京 🎟️ مرحبا', '$1 $$ $tag$', '<script>alert(1)</script>', 'a\u200bb'];
    const title = nasty.join(' ');
    assert.ok([...title].length <= 200);
    const description = `${nasty.join('\n')}\n\ttabbed line`;
    const { event } = await org.ok('create_event', eventFields({ title, description }));
    assert.equal(event.title, title);
    assert.equal(event.description, description);
    const stored = await q(`SELECT title = ${lit(title)} AND description = ${lit(description)} FROM tickets_events WHERE id = ${event.id}`);
    assert.equal(stored, 't', 'stored byte for byte');
    assert.equal(await q("SELECT to_regclass('tickets_events') IS NOT NULL"), 't');
    for (const [i, name] of nasty.entries()) {
      const t = (await org.ok('create_ticket_type', { event_id: event.id, name, price: i, currency: 'eur', quantity: 10 })).ticket_type;
      assert.equal(t.name, name);
    }
    const read = await org.ok('event', { event_id: event.id });
    assert.equal(read.event.title, title);
    assert.deepEqual(read.ticket_types.map((t) => t.name).sort(), [...nasty].sort());
    const upd = await org.ok('update_event', { event_id: event.id, title: nasty[0], description: nasty[1] });
    assert.equal(upd.event.title, nasty[0]);
    assert.equal(upd.event.description, nasty[1]);

    // Participants' fields, on a live event.
    const e = await live(org, { title: 'Input event' });
    const weirdEmails = [`o'brien%_x-${PID}@example.org`, `tilde~plus+tag-${PID}@example.org`];
    for (const [i, addr] of weirdEmails.entries()) {
      const r = await S.anonymous.ok('register', { event_id: e.event.id, ticket_type_id: e.types[0].id, email: addr, display_name: nasty[i], ...TERMS });
      assert.equal(r.registration.status, 'confirmed');
    }
    const regs = (await org.ok('list_registrations', { event_id: e.event.id })).registrations;
    assert.deepEqual(regs.map((x) => [x.email, x.display_name]), weirdEmails.map((a, i) => [a, nasty[i]]));
    // Search text with LIKE and regex metacharacters is text, not a pattern.
    for (const q of ['%', '_', "'; DROP TABLE tickets_events; --", '.*', '\\']) {
      const r = await S.anonymous.ok('list_events', { q });
      assert.ok(Array.isArray(r.events), `q=${q}`);
    }
    assert.equal((await S.anonymous.ok('list_events', { q: '%' })).total, 0, "'%' matches only a literal %");
    // The organiser's names from signup, with hostile text.
    const s = await S.anonymous.ok('signup', { email: email('nasty'), password: `${nasty[0]} pw`, name: nasty[0], organisation: nasty[7] });
    assert.equal(s.user.name, nasty[0]);
    assert.equal(s.organisation.name, nasty[7]);
    assert.equal(await q(`SELECT name = ${lit(nasty[7])} FROM tickets_organisations WHERE id = ${s.organisation.id}`), 't');

    // Refusals: each answers its code and stores nothing.
    const D = await draft(org, { title: 'Refusal draft' });
    const reg = (over) => ({ event_id: e.event.id, ticket_type_id: e.types[0].id, email: email('bad'), display_name: 'Bad Input', ...TERMS, ...over });
    const typeBody = (over) => ({ event_id: D.event.id, name: 'T', price: 0, currency: 'eur', quantity: 1, ...over });
    const cases = [
      // [session, request, body, code]
      [org, 'create_event', eventFields({ title: 'x'.repeat(201) }), 482],
      [org, 'create_event', eventFields({ title: '' }), 482],
      [org, 'create_event', eventFields({ title: 'line\nbreak' }), 482],
      [org, 'create_event', eventFields({ title: 'bell\u0007' }), 482],
      [org, 'create_event', eventFields({ title: 42 }), 482],
      [org, 'create_event', eventFields({ description: 'd'.repeat(10001) }), 482],
      [org, 'create_event', eventFields({ starts_at: '2027-02-30T10:00', ends_at: '2027-03-01T10:00' }), 482],
      [org, 'create_event', eventFields({ starts_at: 'not a date' }), 482],
      [org, 'create_event', eventFields({ ends_at: '2027-03-01T17:00' }), 482],
      [org, 'create_event', eventFields({ ends_at: '2027-03-01T18:00' }), 482],
      [org, 'create_event', eventFields({ starts_at: "2027-03-01'; --" }), 482],
      [org, 'create_event', eventFields({ timezone: 'Mars/Olympus_Mons' }), 482],
      [org, 'create_event', eventFields({ timezone: "Europe/Berlin'; --" }), 482],
      [org, 'create_event', eventFields({ business_type: 'party' }), 482],
      [org, 'create_event', eventFields({ business_type: "meetup'; --" }), 482],
      [org, 'create_event', eventFields({ capacity: 0 }), 482],
      [org, 'create_event', eventFields({ capacity: -5 }), 482],
      [org, 'create_event', eventFields({ capacity: 1000001 }), 482],
      [org, 'create_event', eventFields({ capacity: '10' }), 482],
      [org, 'create_event', eventFields({ capacity: 1.5 }), 482],
      [org, 'create_event', eventFields({ image_url: "javascript:alert('x')" }), 482],
      [org, 'create_event', eventFields({ image_url: `https://example.org/${'i'.repeat(2000)}` }), 482],
      [org, 'create_event', (() => { const f = eventFields(); delete f.title; return f; })(), 481],
      [org, 'create_event', (() => { const f = eventFields(); delete f.starts_at; return f; })(), 481],
      [org, 'update_event', { event_id: D.event.id, title: 'y'.repeat(201) }, 482],
      [org, 'update_event', { event_id: D.event.id, capacity: 0 }, 482],
      [org, 'update_event', { event_id: '1 OR 1=1' }, 482],
      [org, 'create_ticket_type', typeBody({ price: -1 }), 482],
      [org, 'create_ticket_type', typeBody({ price: '0' }), 482],
      [org, 'create_ticket_type', typeBody({ quantity: 0 }), 482],
      [org, 'create_ticket_type', typeBody({ name: 'n'.repeat(101) }), 482],
      [org, 'create_ticket_type', typeBody({ currency: 'euro' }), 482],
      [org, 'create_ticket_type', typeBody({ currency: "e'r" }), 482],
      [org, 'create_ticket_type', typeBody({ sales_start: '2027-13-01T00:00' }), 482],
      [org, 'create_ticket_type', typeBody({ event_id: 'abc' }), 482],
      [org, 'update_ticket_type', { ticket_type_id: D.types[0].id, price: -1 }, 482],
      [S.anonymous, 'register', reg({ email: "not an email'; --" }), 482],
      [S.anonymous, 'register', reg({ email: 'a@b' }), 482],
      [S.anonymous, 'register', reg({ display_name: 'd'.repeat(101) }), 482],
      [S.anonymous, 'register', reg({ display_name: '' }), 482],
      [S.anonymous, 'register', reg({ accept_terms: false }), 482],
      [S.anonymous, 'register', reg({ accept_data_sharing: 'yes' }), 482],
      [S.anonymous, 'register', reg({ terms_version: "2026-01'; --" }), 482],
      [S.anonymous, 'register', reg({ display_name: undefined }), 481],
      [S.anonymous, 'register', reg({ ticket_type_id: 987654321 }), 484],
      [S.anonymous, 'register', reg({ event_id: 987654321 }), 484],
      [S.anonymous, 'register', reg({ event_id: D.event.id, ticket_type_id: D.types[0].id }), 485],
      [S.anonymous, 'signup', { email: email('short'), password: 'short', name: 'N', organisation: 'O' }, 482],
      [S.anonymous, 'signup', { email: U.owner.email.toUpperCase(), password: PASSWORD, name: 'N', organisation: 'O' }, 489],
      [S.anonymous, 'signup', { email: email('long'), password: PASSWORD, name: 'n'.repeat(101), organisation: 'O' }, 482],
      [S.anonymous, 'signup', { email: email('noorg'), password: PASSWORD, name: 'N' }, 481],
      [S.anonymous, 'list_events', { per_page: 0 }, 482],
      [S.anonymous, 'list_events', { per_page: 101 }, 482],
      [S.anonymous, 'list_events', { page: 0 }, 482],
      [S.anonymous, 'list_events', { from: 'not a date' }, 482],
      [S.anonymous, 'list_events', { business_type: 'party' }, 482],
      [S.owner, 'add_member', { email: email('badrole'), role: 'owner' }, 482],
      [S.owner, 'add_member', { email: U.host.email, role: 'host' }, 489],
      [S.anonymous, 'accept_invite', { invite: 'B'.repeat(43), name: 'N', password: PASSWORD }, 482],
      [S.anonymous, 'nonsense_request', {}, 480],
      [S.anonymous, 'DROP TABLE tickets_events', {}, 480],
    ];
    const failures = [];
    for (const [sess, req, body, code] of cases) {
      const snap = await pg.snapshot();
      try {
        await sess.fail(req, body, code);
        await pg.assertUnchanged(snap, `${req} ${JSON.stringify(body).slice(0, 80)}`);
      } catch (err) {
        failures.push(err.message.split('\n')[0]);
      }
    }
    // Bodies that are not requests.
    const snap = await pg.snapshot();
    const noRequest = await S.anonymous.message({ title: 'no request' });
    assert.equal(noRequest.data?.error_code, 481, JSON.stringify(noRequest));
    const numeric = await S.anonymous.message({ request: 42 });
    assert.ok([480, 481].includes(numeric.data?.error_code), JSON.stringify(numeric));
    for (const body of [[1, 2], 'register', 42, null]) {
      const r = await S.anonymous.message(body);
      // The Janus core refuses a body that is not an object before the plugin sees it.
      assert.ok(r.data ? [480, 481].includes(r.data.error_code) : r.ack.janus === 'error',
        `body ${JSON.stringify(body)}: ${JSON.stringify(r)}`);
    }
    // A NUL in a string: the core's JSON parser refuses the whole message (Janus 454, without a
    // transaction, as Janus does for JSON it cannot read).
    S.anonymous.ws.send(JSON.stringify({ janus: 'message', session_id: S.anonymous.sessionId, handle_id: S.anonymous.handleId,
      transaction: 'nul-byte', body: { request: 'create_event', ...eventFields({ title: 'nul\u0000byte' }) } }));
    const nul = await S.anonymous.ws.nextMessage((m) => m.janus === 'error' && (m.transaction === 'nul-byte' || m.transaction === undefined), 5000);
    assert.equal(nul.error.code, 454, JSON.stringify(nul));
    await pg.assertUnchanged(snap, 'bodies that are not requests');
    assert.deepEqual(failures, [], `bad input not refused as docs/api.md says:\n${failures.join('\n')}`);
  });

  // -------------------------------------------------------------------------------------
  test('public GET /api/events: filters, paging, detail, ETag, 304, 400, 405', async () => {
    const mark = `lst${PID}`;
    const mk = async (title, type, start, end, publish = true) => {
      const f = { title: `${title} ${mark}`, business_type: type, starts_at: start, ends_at: end, timezone: 'UTC' };
      return publish ? (await live(S.organiser, f)).event : (await draft(S.organiser, f)).event;
    };
    const e1 = await mk('Alpha', 'conference', '2027-03-10T09:00', '2027-03-10T17:00');
    const e2 = await mk('Bravo', 'meetup', '2027-04-10T18:00', '2027-04-10T21:00');
    const e3 = await mk('Charlie', 'workshop', '2027-05-20T09:00', '2027-05-21T17:00');
    const hidden = await mk('Draft', 'meetup', '2027-04-11T18:00', '2027-04-11T21:00', false);
    const b = await live(S.otherOrg, { title: `Other org ${mark}`, business_type: 'hackathon', starts_at: '2027-06-01T10:00', ends_at: '2027-06-02T10:00', timezone: 'UTC' });

    const get = async (p, headers = {}) => {
      const res = await fetch(`${site}${p}`, { headers });
      const text = await res.text();
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      return { status: res.status, headers: res.headers, text, json };
    };
    const ids = (r) => r.json.events.map((e) => e.id);
    // The listing follows the database within moments (the cache re-reads on NOTIFY).
    const deadline = Date.now() + 5000;
    let all;
    for (;;) {
      all = await get(`/api/events?q=${mark}&per_page=100`);
      if (all.status === 200 && all.json.total === 4) break;
      if (Date.now() > deadline) assert.fail(`listing never showed 4 events: ${all.text}`);
      await sleep(100);
    }
    assert.deepEqual(ids(all), [e1.id, e2.id, e3.id, b.event.id], 'upcoming live events by start, no drafts');
    assert.equal(all.headers.get('cache-control'), 'public, max-age=10');
    const etag = all.headers.get('etag');
    assert.ok(etag, 'ETag');
    assert.match(all.headers.get('content-type'), /application\/json/);
    const again = await get(`/api/events?q=${mark}&per_page=100`, { 'If-None-Match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    assert.deepEqual(ids(await get(`/api/events?q=${mark}&business_type=meetup`)), [e2.id]);
    assert.deepEqual(ids(await get(`/api/events?q=${mark}&business_type=hackathon`)), [b.event.id]);
    assert.deepEqual(ids(await get(`/api/events?q=${mark}&from=2027-04-01&to=2027-04-30`)), [e2.id]);
    assert.deepEqual(ids(await get(`/api/events?q=${mark}&from=2027-04-10`)), [e2.id, e3.id, b.event.id]);
    assert.deepEqual(ids(await get(`/api/events?q=${mark}&to=2027-03-10`)), [e1.id], 'a date includes its whole day');
    assert.deepEqual(ids(await get(`/api/events?q=CHARLIE+${mark}`)), [e3.id], 'q: every word, any case');
    assert.deepEqual(ids(await get(`/api/events?q=${encodeURIComponent(`bravo ${mark}`)}`)), [e2.id]);
    const p2 = await get(`/api/events?q=${mark}&per_page=3&page=2`);
    assert.deepEqual(ids(p2), [b.event.id]);
    assert.equal(p2.json.total, 4);
    assert.equal(p2.json.page, 2);
    assert.equal(p2.json.per_page, 3);
    assert.deepEqual(ids(await get(`/api/events?q=${mark}&per_page=3&page=3`)), []);
    // The plugin request answers the same.
    const viaPlugin = await S.anonymous.ok('list_events', { q: mark, business_type: 'meetup' });
    assert.deepEqual(viaPlugin.events.map((e) => e.id), [e2.id]);
    assert.equal(viaPlugin.total, 1);

    // Detail.
    const d = await get(`/api/events/${e2.id}`);
    assert.equal(d.status, 200);
    assert.equal(d.json.event.id, e2.id);
    assert.equal(d.json.event.starts_at, '2027-04-10T18:00:00Z');
    assert.equal(d.json.event.timezone, 'UTC');
    assert.equal(d.json.ticket_types.length, 1);
    assert.equal(d.json.ticket_types[0].on_sale, true);
    assert.ok(d.headers.get('etag'));
    assert.equal(d.headers.get('cache-control'), 'public, max-age=10');
    assert.equal((await get(`/api/events/${e2.id}`, { 'If-None-Match': d.headers.get('etag') })).status, 304);
    const tk = await get(`/api/events/${e2.id}/tickets`);
    assert.equal(tk.status, 200);
    assert.deepEqual(Object.keys(tk.json), ['ticket_types']);
    assert.ok(tk.headers.get('etag'));
    for (const p of [`/api/events/${hidden.id}`, `/api/events/${hidden.id}/tickets`, '/api/events/987654321', '/api/events/abc', `/api/events/${e2.id}/nope`]) {
      const r = await get(p);
      assert.equal(r.status, 404, `${p}: ${r.status}`);
      assert.equal(typeof r.json?.error, 'string', `${p}: JSON error`);
    }
    // Bad parameters: 400 with a JSON error.
    const failures = [];
    for (const query of ['per_page=0', 'per_page=101', 'page=0', 'page=-1', 'per_page=ten', 'business_type=party',
      'from=not-a-date', 'to=2027-13-01', 'from=2027-02-30', 'page=1&page=2', `q=${'q'.repeat(201)}`, 'q=%C3%28']) {
      const r = await get(`/api/events?${query}`);
      if (r.status !== 400 || typeof r.json?.error !== 'string' || !/application\/json/.test(r.headers.get('content-type'))) {
        failures.push(`GET /api/events?${query}: expected 400 with a JSON error, got ${r.status} ${r.headers.get('content-type')} ${r.text.slice(0, 120)}`);
      }
    }
    // A malformed percent escape never reaches the plugin: libwebsockets refuses the request
    // line itself (403, its own HTML page; docs/architecture.md, "libwebsockets 4.1.6").
    const malformed = await get('/api/events?q=%ZZ');
    assert.ok(malformed.status >= 400 && malformed.status < 500, `q=%ZZ: ${malformed.status}`);
    // Read-only.
    for (const [method, p] of [['POST', '/api/events'], ['PUT', `/api/events/${e2.id}`], ['DELETE', `/api/events/${e2.id}`]]) {
      const res = await fetch(`${site}${p}`, { method, headers: { 'Content-Type': 'application/json' }, body: method === 'DELETE' ? undefined : '{}' });
      assert.equal(res.status, 405, `${method} ${p}`);
    }

    // A change shows at once (a new ETag), a draft never.
    const e4 = await mk('Delta', 'meetup', '2027-04-12T18:00', '2027-04-12T21:00');
    const deadline2 = Date.now() + 5000;
    for (;;) {
      const r = await get(`/api/events?q=${mark}&per_page=100`, { 'If-None-Match': etag });
      if (r.status === 200 && r.json.total === 5) {
        assert.notEqual(r.headers.get('etag'), etag);
        assert.ok(ids(r).includes(e4.id) && !ids(r).includes(hidden.id));
        break;
      }
      if (Date.now() > deadline2) assert.fail(`the new event never showed: ${r.status} ${r.text}`);
      await sleep(100);
    }
    assert.deepEqual(failures, [], `answers that disagree with docs/api.md:\n${failures.join('\n')}`);
  });

  // -------------------------------------------------------------------------------------
  test('mail through SMTP: a second node sends the magic link to an SMTP server', async () => {
    const sink = await startSmtpSink({ user: 'mailer', password: 'mail-password' });
    const conf = makeTempDir('odeon-tickets-smtp-');
    const [http, admin] = await freePorts(2);
    const site2 = `http://127.0.0.1:${http}`;
    fs.writeFileSync(path.join(conf, 'tickets.conf'), ticketsConf({
      site: site2,
      mail: [`smtp_url = smtp://127.0.0.1:${sink.port}`, 'smtp_user = mailer', 'smtp_password = mail-password',
        'from = Odeon Tests <tickets@example.org>'],
    }));
    const second = await startServer({
      plugins: ['tickets'], pluginsConfigDir: conf, sqlDir: SQL_DIR, ports: { http, admin },
      extraConfig: `[database]\nconninfo = ${db}\n`,
    });
    try {
      const anon = await ticketsSession(second);
      const addr = email('smtp');
      const r = await anon.ok('register', { event_id: F.event, ticket_type_id: F.type, email: addr, display_name: 'Sam Smtp', ...TERMS });
      assert.equal(r.email_sent, true);
      const [msg] = await sink.waitFor(1, 15000);
      assert.deepEqual(msg.to, [addr]);
      assert.equal(msg.from, 'tickets@example.org');
      assert.equal(msg.auth, 'mailer');
      const { body } = parseMail(msg.data);
      const token = linkParam(body, 'signin.html', 'token');
      assert.ok(body.includes(`${site2}/signin.html?token=`), 'the link points at the second node');
      assert.equal(mailsTo(outbox, addr).length, 0, 'not through the first node\'s outbox');
      // The link works on either node: one database, one token secret.
      const signed = await S.anonymous.ok('redeem_link', { token });
      assert.equal(signed.participant.email, addr);
      await anon.close();
    } catch (err) {
      second.printLogs('SMTP test failed');
      throw err;
    } finally {
      await second.stop();
      await sink.close();
      fs.rmSync(conf, { recursive: true, force: true });
    }
  });
});
