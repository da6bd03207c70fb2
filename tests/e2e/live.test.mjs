// The live event in real browsers, against the chat, help and analytics plugins on PostgreSQL:
// a participant follows their sign-in link (html/signin.html) to the event's live page
// (html/live.html), sends chat messages and asks for help; the organiser's console
// (html/console.html, "Live now") shows the request at once, claims it (the participant reads
// who is coming) and resolves it; the dashboard's figures and charts change as the
// participant arrives, writes and asks. The analytics clock is the test clock, moved through
// the admin API, so "messages per minute" (the last complete minute) shows without waiting a
// minute. Odeon only.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import { freePorts, isJanus, makeTempDir, startServer } from '../integration/harness.mjs';
import { SQL_DIR, createDatabase } from '../integration/pg.mjs';
import { adminPlugin, eventSession, setupEvent, waitFor } from '../integration/event_client.mjs';
import { chromiumMissing, openPage } from './browser.mjs';

const htmlDir = process.env.ODEON_HTML_DIR ||
  path.join(process.env.ODEON_SRCDIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'html');
const SKIP = isJanus ? 'odeon-only (event plugins)' : chromiumMissing();
const SECRET = 'e2e-live-token-secret-0123456789abcdef';

describe('live event: chat, help and the organiser dashboard', { skip: SKIP }, () => {
  let server;
  let browser;
  let confDir;
  let outbox;
  let site;
  let ev;             // { owner, eventId, participants }
  let console_;       // the organiser's console page
  let participant;    // the participant's page, in a context of its own
  const errors = [];

  function watchErrors(page) {
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`${page.url()}: ${msg.text()}`); });
    page.on('pageerror', (err) => errors.push(`${page.url()}: ${err}`));
  }

  const figure = (id) => console_.textContent(`#${id}`).then((t) => Number(t));

  before(async () => {
    const db = createDatabase('odeon_live_e2e');
    confDir = makeTempDir('odeon-live-e2e-');
    outbox = path.join(confDir, 'outbox');
    fs.mkdirSync(outbox);
    const [http, admin] = await freePorts(2);
    site = `http://127.0.0.1:${http}`;
    fs.writeFileSync(path.join(confDir, 'tickets.conf'),
                     `[general]\nsite_url = ${site}\ntoken_secret = ${SECRET}\n[mail]\noutbox_dir = ${outbox}\n`);
    fs.writeFileSync(path.join(confDir, 'analytics.conf'),
                     '[general]\nflush_ms = 200\ndashboard_ms = 500\ntest_clock = true\n');
    fs.writeFileSync(path.join(confDir, 'chat.conf'), '[general]\nbatch_ms = 100\n');
    server = await startServer({
      htmlDir, plugins: ['tickets', 'chat', 'help', 'analytics'], pluginsConfigDir: confDir,
      sqlDir: SQL_DIR, ports: { http, admin }, extraConfig: `[database]\nconninfo = ${db}\n`,
    });
    // The organiser, the event and one registration through the API (the console and the
    // registration pages have their own test).
    ev = await setupEvent(server, outbox, { n: 0, prefix: 'live-e2e' });
    const o = await eventSession(server, 'odeon.plugin.tickets', ev.owner.token);
    const { ticket_types: types } = await o.request({ request: 'event', event_id: ev.eventId });
    const r = await o.request({ request: 'register', event_id: ev.eventId, ticket_type_id: types[0].id,
                                email: 'pia@live-e2e.example', display_name: 'Pia Participant',
                                accept_terms: true, accept_data_sharing: true,
                                terms_version: '2026-01', consent_version: '2026-01' });
    assert.equal(r.registration.status, 'confirmed', JSON.stringify(r));
    await o.close();

    ({ browser, page: console_ } = await openPage(`${site}/console.html`));
    watchErrors(console_);
    // Signed in as the owner: the console keeps organiser tokens in localStorage.
    await console_.evaluate((owner) => localStorage.setItem('odeon.tickets.organiser', JSON.stringify({
      token: owner.token, kind: 'organiser', expires_at: owner.expires_at })), ev.owner);
    await console_.reload();
    const context = await browser.newContext();
    participant = await context.newPage();
    watchErrors(participant);
  });

  afterEach((t) => {
    if (server && t.passed === false) server.printLogs(`after failed test "${t.name}"`);
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  });

  test('the console shows the live panel of a live event', async () => {
    await console_.waitForSelector('#app', { state: 'visible', timeout: 15000 });
    await console_.click('#live li button:has-text("live-e2e summit")');
    await console_.waitForSelector('#live-section', { state: 'visible', timeout: 10000 });
    await waitFor('the first figures', async () => (await console_.textContent('#fig-attendees')) === '0', 15000);
    assert.equal(await figure('fig-viewers'), 0);
    assert.equal(await figure('fig-help'), 0);
  });

  test('a participant signs in, chats and asks for help; the console follows live', async () => {
    const link = await waitFor('the sign-in mail', () => {
      for (const f of fs.readdirSync(outbox).filter((n) => n.endsWith('.eml'))) {
        const text = fs.readFileSync(path.join(outbox, f), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
        if (text.includes('To: pia@live-e2e.example')) return text.match(/https?:\/\/\S+\/signin\.html\?token=[A-Za-z0-9_-]+/)[0];
      }
      return null;
    });
    await participant.goto(link);
    await participant.waitForSelector('#signed-in', { state: 'visible', timeout: 15000 });
    await participant.click('#live-link');
    await participant.waitForSelector('#live', { state: 'visible', timeout: 15000 });
    assert.equal(await participant.textContent('#title'), 'live-e2e summit');

    // Arrival: one viewer, one attendee.
    await waitFor('the viewer on the dashboard', async () => (await figure('fig-viewers')) === 1 && (await figure('fig-attendees')) === 1, 15000);

    for (const text of ['Hello from the browser', 'Is the demo at 3?']) {
      await participant.fill('#chat-text', text);
      await participant.click('#chat-send');
      await participant.waitForSelector(`#messages li:has-text("${text}")`, { timeout: 10000 });
    }
    // The organiser's main chat has them too, with the sender's name.
    await console_.waitForSelector('#room-messages li:has-text("Pia Participant Is the demo at 3?")', { timeout: 10000 });
    // "Messages per minute" is the last complete minute: move the clock past this one.
    await adminPlugin(server, 'odeon.plugin.analytics', { request: 'advance_clock', seconds: 60 });
    await waitFor('messages per minute', async () => (await figure('fig-mpm')) === 2, 15000);
    const chartMax = await console_.getAttribute('#chart-messages', 'data-max');
    assert.equal(chartMax, '2', 'the messages chart peaks at the two messages');

    // Help: raised in the page, seen in the console, claimed, resolved.
    await participant.fill('#help-note', 'My microphone does not work');
    await participant.click('#help-raise');
    await participant.waitForSelector('#help-state:has-text("waiting for an organiser")', { timeout: 10000 });
    const card = '#help-requests li:has-text("Pia Participant")';
    await console_.waitForSelector(`${card}:has-text("My microphone does not work")`, { timeout: 10000 });
    await waitFor('the open request on the dashboard', async () => (await figure('fig-help')) === 1, 15000);
    await console_.click(`${card} button:has-text("Claim")`);
    await participant.waitForSelector('#help-state:has-text("Olga Owner is coming")', { timeout: 10000 });
    await console_.waitForSelector(`${card}:has-text("Olga Owner is on it")`, { timeout: 10000 });
    await console_.click(`${card} button:has-text("Resolve")`);
    await participant.waitForSelector('#help-status:has-text("resolved")', { timeout: 10000 });
    await console_.waitForSelector(card, { state: 'detached', timeout: 10000 });
    await waitFor('no open request on the dashboard', async () => (await figure('fig-help')) === 0, 15000);
    assert.deepEqual(errors, []);
  });
});
