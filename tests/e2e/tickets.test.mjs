// The event site in real browsers, against odeon.plugin.tickets, PostgreSQL and a fake Stripe
// (tests/fakes/stripe.mjs): an organiser signs up in html/console.html, creates an event with
// a free and a paid ticket type, connects Stripe (the fake's OAuth page sends the browser
// straight back with a code) and goes live; a participant, in a browser context of their
// own, finds the event on html/events.html by its business type, registers for the free
// ticket on html/event.html, follows the magic link from the outbox folder (an .eml file,
// quoted-printable) to html/signin.html and is signed in under their name. A used link is
// refused with the new-link form. A buyer of the paid ticket goes to the fake's Checkout page,
// cancels (back to the event page, told so), registers again (the held order, the same
// session), pays, comes back with ?paid=1 and gets the sign-in link once the webhook confirmed
// the order. The organiser sees both registrations. Odeon only.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import { freePorts, isJanus, makeTempDir, sleep, startServer } from '../integration/harness.mjs';
import { SQL_DIR, createDatabase } from '../integration/pg.mjs';
import { startFakeStripe } from '../fakes/stripe.mjs';
import { chromiumMissing, openPage } from './browser.mjs';

const htmlDir = process.env.ODEON_HTML_DIR ||
  path.join(process.env.ODEON_SRCDIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'html');

const STRIPE = { secretKey: 'sk_test_e2e_tickets', clientId: 'ca_e2e_tickets',
                 webhookSecret: 'whsec_e2e_tickets' };
const TITLE = `Rust meetup ${process.pid}`;
const ORGANISER = { name: 'Olga Organiser', email: `olga-${process.pid}@example.org`,
                    password: 'correct horse battery', organisation: 'Meetup Friends' };
const PARTICIPANT = { name: 'Pat Participant', email: `pat-${process.pid}@example.org` };
const BUYER = { name: 'Bea Buyer', email: `bea-${process.pid}@example.org` };
const SKIP = isJanus ? 'odeon-only (tickets plugin)' : chromiumMissing();

/** Decodes a quoted-printable text (soft line breaks, =XX bytes) as UTF-8. */
function decodeQuotedPrintable(text) {
  const bytes = text.replace(/=\r?\n/g, '')
    .replace(/=([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** The messages in the outbox folder addressed to `to`, oldest first, decoded. */
function mailsTo(outbox, to) {
  return fs.readdirSync(outbox).filter((f) => f.endsWith('.eml')).sort()
    .map((f) => fs.readFileSync(path.join(outbox, f), 'utf8'))
    .filter((text) => new RegExp(`^To:.*${to.replace(/[.+]/g, '\\$&')}`, 'mi').test(text))
    .map(decodeQuotedPrintable);
}

/** Waits for the n-th message to `to` and returns the sign-in link in it. */
async function magicLink(outbox, to, n = 1, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const mails = mailsTo(outbox, to);
    if (mails.length >= n) {
      const m = mails[n - 1].match(/https?:\/\/[^\s"'<>]+\/signin\.html\?token=[^\s"'<>&]+/);
      assert.ok(m, `no sign-in link in the message:\n${mails[n - 1]}`);
      return m[0];
    }
    if (Date.now() > deadline) {
      throw new Error(`no message ${n} to ${to} in ${outbox} (${fs.readdirSync(outbox).join(', ')})`);
    }
    await sleep(100);
  }
}

// Errors logged by our pages (not by the fake's Checkout page, which has no favicon).
function watchErrors(page, into, site) {
  const ours = () => page.url().startsWith(`${site}/`);
  page.on('console', (msg) => {
    if (msg.type() === 'error' && ours()) into.push(`${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => { if (ours()) into.push(`${page.url()}: ${err}`); });
}

describe('event site: organiser console, listing, registration, magic link', { skip: SKIP }, () => {
  let server;
  let browser;
  let fake;
  let confDir;
  let outbox;
  let site;
  let organiser;      // the console page
  let participant;    // the participant's page, in a context of its own
  let eventId;
  const errors = [];

  before(async () => {
    const db = createDatabase('odeon_tickets_e2e');
    confDir = makeTempDir('odeon-tickets-e2e-');
    outbox = path.join(confDir, 'outbox');
    fs.mkdirSync(outbox);
    const [http, admin] = await freePorts(2);
    site = `http://127.0.0.1:${http}`;
    fake = await startFakeStripe({ ...STRIPE, webhookUrl: `${site}/api/stripe/webhook` });
    fs.writeFileSync(path.join(confDir, 'tickets.conf'), [
      '[general]', `site_url = ${site}`, 'token_secret = e2e-tickets-token-secret-0123456789abcdef', '',
      '[mail]', `outbox_dir = ${outbox}`, 'from = Odeon <events@example.org>', '',
      '[stripe]', `secret_key = ${STRIPE.secretKey}`, `client_id = ${STRIPE.clientId}`,
      `webhook_secret = ${STRIPE.webhookSecret}`, `api_base = ${fake.url}`, `connect_base = ${fake.url}`,
      '',
    ].join('\n'));
    server = await startServer({
      htmlDir, plugins: ['tickets'], pluginsConfigDir: confDir, sqlDir: SQL_DIR,
      ports: { http, admin }, extraConfig: `[database]\nconninfo = ${db}\n`,
    });
    assert.equal(server.httpBase, site);
    ({ browser, page: organiser } = await openPage(`${site}/console.html`));
    watchErrors(organiser, errors, site);
    const context = await browser.newContext();
    participant = await context.newPage();
    watchErrors(participant, errors, site);
  });

  afterEach((t) => {
    if (server && t.passed === false) server.printLogs(`after failed test "${t.name}"`);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (fake) await fake.close();
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  });

  test('an organiser signs up in the console', async () => {
    const page = organiser;
    await page.waitForSelector('#signup-form', { state: 'visible', timeout: 10000 });
    await page.fill('#signup-name', ORGANISER.name);
    await page.fill('#signup-email', ORGANISER.email);
    await page.fill('#signup-password', ORGANISER.password);
    await page.fill('#signup-organisation', ORGANISER.organisation);
    await page.click('#signup-form button[type="submit"]');
    await page.waitForSelector('#app', { state: 'visible', timeout: 15000 });
    assert.match(await page.textContent('#who'),
                 new RegExp(`Signed in as ${ORGANISER.name} \\(owner\\) at ${ORGANISER.organisation}`));
    // The token is kept for the next visit (localStorage), and the team lists the owner.
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('odeon.tickets.organiser')));
    assert.equal(stored.kind, 'organiser');
    await page.waitForSelector(`#members td:has-text("${ORGANISER.email}")`, { timeout: 5000 });
  });

  test('creates a draft event with a free and a paid ticket type', async () => {
    const page = organiser;
    await page.click('#new-event');
    await page.fill('#ev-title', TITLE);
    await page.fill('#ev-description', 'Talks about Rust and a chat afterwards.');
    await page.selectOption('#ev-business-type', 'meetup');
    await page.fill('#ev-starts-at', '2030-06-01T18:00');
    await page.fill('#ev-ends-at', '2030-06-01T21:00');
    await page.fill('#ev-timezone', 'Europe/Berlin');
    await page.fill('#ev-capacity', '100');
    await page.click('#save-event');
    await page.waitForSelector('#editor-status[data-kind="ok"]:has-text("created")', { timeout: 10000 });
    eventId = await page.evaluate(() => window.consolePage.selected.id);
    assert.ok(eventId);
    // Local time in the event's zone: 18:00 in Berlin in June is 16:00 UTC.
    const ev = await page.evaluate(() => window.consolePage.selected);
    assert.equal(ev.status, 'draft');
    assert.equal(Date.parse(ev.starts_at), Date.parse('2030-06-01T16:00:00Z'));
    assert.equal(ev.timezone, 'Europe/Berlin');
    await page.waitForSelector('#drafts button:has-text("Rust meetup")');

    await page.fill('#tt-name', 'General admission');
    await page.check('#tt-free');
    await page.fill('#tt-quantity', '50');
    await page.click('#save-ticket');
    await page.waitForSelector('#ticket-status[data-kind="ok"]:has-text("General admission")', { timeout: 10000 });

    await page.fill('#tt-name', 'Supporter');
    await page.check('#tt-paid');
    await page.fill('#tt-price', '15.00');
    await page.selectOption('#tt-currency', 'eur');
    await page.fill('#tt-quantity', '10');
    await page.click('#save-ticket');
    await page.waitForSelector('#ticket-status[data-kind="ok"]:has-text("Supporter")', { timeout: 10000 });
    const types = await page.evaluate(() => window.consolePage.ticketTypes);
    assert.deepEqual(types.map((t) => [t.name, t.price, t.currency, t.quantity]),
                     [['General admission', 0, 'eur', 50], ['Supporter', 1500, 'eur', 10]]);
    assert.equal(await page.locator('#ticket-table tbody tr').count(), 2);
  });

  test('cannot go live with a paid ticket before Stripe is connected', async () => {
    const page = organiser;
    await page.click('#publish-event');
    const status = await page.waitForSelector('#editor-status[data-kind="error"]', { timeout: 10000 });
    assert.equal(await status.getAttribute('data-code'), '485');
  });

  test('connects Stripe through the OAuth round trip and goes live', async () => {
    const page = organiser;
    await page.click('#stripe-connect');
    // To the fake's authorize page, which sends the browser back with ?code=&state=.
    await page.waitForURL(/console\.html/, { timeout: 15000 });
    await page.waitForSelector('#stripe-status[data-kind="ok"]:has-text("Stripe connected")', { timeout: 15000 });
    assert.doesNotMatch(page.url(), /code=/, 'the OAuth code left the address bar');
    assert.match(await page.textContent('#stripe-state'), /Stripe is connected \(account acct_/);
    // The event being edited is open again.
    await page.waitForSelector(`#editor-title:has-text("${TITLE}")`, { timeout: 10000 });
    await page.click('#publish-event');
    await page.waitForSelector('#editor-status[data-kind="ok"]:has-text("is live")', { timeout: 10000 });
    await page.waitForSelector(`#live button:has-text("${TITLE}")`);
  });

  test('a participant finds it by business type and opens it', async () => {
    const page = participant;
    await page.goto(`${site}/events.html`);
    await page.selectOption('#business_type', 'webinar');
    await page.click('#filters button[type="submit"]');
    await page.waitForURL(/business_type=webinar/);
    await page.waitForSelector('#status[data-kind="ok"]', { timeout: 10000 });
    assert.equal(await page.locator(`#results a:has-text("${TITLE}")`).count(), 0);

    await page.selectOption('#business_type', 'meetup');
    await page.click('#filters button[type="submit"]');
    await page.waitForURL(/business_type=meetup/);
    const link = await page.waitForSelector(`#results a:has-text("${TITLE}")`, { timeout: 10000 });
    assert.match(await page.textContent('#status'), /1 event \(Meetup\)/);
    await link.click();
    await page.waitForURL(/event\.html\?id=/);
    await page.waitForSelector('#event', { state: 'visible', timeout: 10000 });
    assert.equal(await page.textContent('#title'), TITLE);
    assert.match(await page.textContent('#when'), /Europe\/Berlin/);
    assert.match(await page.textContent('#ticket-options'), /General admission, Free/);
    assert.match(await page.textContent('#ticket-options'), /Supporter, €15\.00/);
  });

  test('registers for the free ticket and is told to check their email', async () => {
    const page = participant;
    await page.getByLabel('General admission, Free').check();
    await page.fill('#email', PARTICIPANT.email);
    await page.fill('#display_name', PARTICIPANT.name);
    // Without consent the form says what is missing and sends nothing.
    await page.click('#register-button');
    assert.match(await page.textContent('#register-status'), /accept the terms/);
    await page.getByLabel(/terms of participation/).check();
    await page.getByLabel(/shared\s+with the event's organiser/).check();
    await page.click('#register-button');
    await page.waitForSelector('#register-status[data-kind="ok"]', { timeout: 10000 });
    assert.match(await page.textContent('#register-status'), /Check your email/);
    assert.match(await page.textContent('#register-status'), new RegExp(PARTICIPANT.email));
  });

  test('follows the magic link and lands signed in under their name', async () => {
    const page = participant;
    const link = await magicLink(outbox, PARTICIPANT.email);
    assert.ok(link.startsWith(`${site}/signin.html?token=`), link);
    await page.goto(link);
    await page.waitForSelector('#signed-in', { state: 'visible', timeout: 15000 });
    assert.equal(await page.textContent('#name'), PARTICIPANT.name);
    assert.equal(await page.textContent('#event-link'), TITLE);
    assert.match(await page.textContent('#status'),
                 new RegExp(`Signed in as ${PARTICIPANT.name} for ${TITLE}`));
    assert.doesNotMatch(page.url(), /token=/, 'the token left the address bar');
    const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('odeon.tickets.participant')));
    assert.equal(stored.kind, 'participant');
    assert.equal(String(stored.event_id), String(eventId));

    // A reload keeps the tab signed in (the credential, not the used link).
    await page.reload();
    await page.waitForSelector('#signed-in', { state: 'visible', timeout: 15000 });
    assert.equal(await page.textContent('#name'), PARTICIPANT.name);

    // The link works once: a second visit is refused with the new-link form.
    const again = await page.context().newPage();
    watchErrors(again, errors, site);
    await again.goto(link);
    await again.waitForSelector('#new-link', { state: 'visible', timeout: 15000 });
    assert.match(await again.textContent('#status'), /no longer valid/);
    await again.close();
  });

  test('a buyer pays for the paid ticket on Checkout and gets the link after paying', async () => {
    const page = await (await browser.newContext()).newPage();
    watchErrors(page, errors, site);
    await page.goto(`${site}/event.html?id=${eventId}`);
    await page.waitForSelector('#event', { state: 'visible', timeout: 10000 });
    const register = async () => {
      await page.getByLabel('Supporter, €15.00').check();
      await page.fill('#email', BUYER.email);
      await page.fill('#display_name', BUYER.name);
      await page.getByLabel(/terms of participation/).check();
      await page.getByLabel(/shared\s+with the event's organiser/).check();
      await page.click('#register-button');
      // To the fake's Checkout page, for this price and buyer.
      await page.waitForURL(new RegExp(`^${fake.url}/pay/`), { timeout: 15000 });
      assert.match(await page.textContent('#amount'), /15\.00/);
      assert.equal(await page.textContent('#email'), BUYER.email);
    };
    await register();
    // Cancelled: back on the event page, told that nothing was charged.
    await page.click('#cancel');
    await page.waitForURL(/event\.html\?id=.*cancelled=1/);
    await page.waitForSelector('#notice:has-text("Payment cancelled")', { timeout: 10000 });
    // Registering again finds the held order and goes back to the same Checkout session.
    await page.waitForSelector('#event', { state: 'visible', timeout: 10000 });
    await register();
    await page.click('#pay');
    await page.waitForURL(/event\.html\?id=.*paid=1/, { timeout: 15000 });
    await page.waitForSelector('#notice:has-text("Payment received")', { timeout: 10000 });
    // The webhook confirmed the order: the sign-in link follows by email.
    await page.goto(await magicLink(outbox, BUYER.email));
    await page.waitForSelector('#signed-in', { state: 'visible', timeout: 15000 });
    assert.equal(await page.textContent('#name'), BUYER.name);
    assert.equal(await page.textContent('#event-link'), TITLE);
    await page.close();
  });

  test('the organiser sees the registration', async () => {
    const page = organiser;
    await page.click('#load-registrations');
    await page.waitForSelector(`#registrations td:has-text("${PARTICIPANT.email}")`, { timeout: 10000 });
    const row = await page.textContent(`#registrations tr:has-text("${PARTICIPANT.email}")`);
    assert.match(row, new RegExp(PARTICIPANT.name));
    assert.match(row, /General admission/);
    assert.match(row, /confirmed/);
    const buyer = await page.textContent(`#registrations tr:has-text("${BUYER.email}")`);
    assert.match(buyer, /Supporter/);
    assert.match(buyer, /confirmed/);
  });

  test('the pages logged no errors', () => {
    assert.deepEqual(errors, []);
  });
});
