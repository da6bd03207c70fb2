// A breakout room in real browsers (Chromium with fake camera and microphone), against the
// tickets, room, chat and help plugins on PostgreSQL:
// - three members follow their group links (signin.html -> room.html) and each decodes the two
//   others' video (getStats framesDecoded per inbound video track);
// - simulcast: a member that shows another small (substream 0) gets the quarter-size layer,
//   another member a larger one;
// - the team chat and the help button work from the room; the organiser's console shows the
//   group with its live member count and the help flag;
// - one member leaves: the others hear "leaving" and their grid shrinks;
// - the organiser joins the room from the console and every member sees them, and mutes a
//   member's microphone for everyone (and allows it again);
// - the organiser ends the breakout: members are told, and the page goes back to the main stage.
// Odeon only.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, test } from 'node:test';
import { freePorts, isJanus, makeTempDir, startServer } from '../integration/harness.mjs';
import { SQL_DIR, createDatabase, psql } from '../integration/pg.mjs';
import { TERMS, eventSession, setupEvent, waitFor } from '../integration/event_client.mjs';
import { chromiumMissing, openPage } from './browser.mjs';

const htmlDir = process.env.ODEON_HTML_DIR ||
  path.join(process.env.ODEON_SRCDIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'html');
const SKIP = isJanus ? 'odeon-only (room plugin)' : chromiumMissing();
const SECRET = 'e2e-room-token-secret-0123456789abcdef';
const NAMES = ['Ada Member', 'Ben Member', 'Cy Member'];

describe('breakout room: three members see each other, one leaves, the organiser drops in', { skip: SKIP }, () => {
  let server;
  let browser;
  let confDir;
  let outbox;
  let site;
  let ev;
  let group;
  let console_;
  const members = []; // { page, name }
  const errors = [];

  function watchErrors(page) {
    page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`${page.url()}: ${msg.text()}`); });
    page.on('pageerror', (err) => errors.push(`${page.url()}: ${err}`));
  }

  // framesDecoded of each inbound video m-line, by the feed it carries.
  const decoded = (page) => page.evaluate(async () => {
    const room = window.roomPage.room;
    const out = {};
    if (!room || !room.sub || !room.sub.pc) return out;
    for (const s of (await room.sub.pc.getStats()).values()) {
      if (s.type !== 'inbound-rtp' || s.kind !== 'video') continue;
      const t = room.sub.pc.getTransceivers().find((x) => x.receiver.track && x.receiver.track.id === s.trackIdentifier);
      const feed = t ? room.midFeed.get(t.mid) : undefined;
      if (feed !== undefined) out[feed] = s.framesDecoded || 0;
    }
    return out;
  });
  const selfId = (page) => page.evaluate(() => window.roomPage.room && window.roomPage.room.id);
  const tiles = (page) => page.evaluate(() => document.querySelectorAll('#grid li:not(.self)').length);

  before(async () => {
    const db = createDatabase('odeon_room_e2e');
    confDir = makeTempDir('odeon-room-e2e-');
    outbox = path.join(confDir, 'outbox');
    fs.mkdirSync(outbox);
    const [http, admin] = await freePorts(2);
    site = `http://127.0.0.1:${http}`;
    fs.writeFileSync(path.join(confDir, 'tickets.conf'),
                     `[general]\nsite_url = ${site}\ntoken_secret = ${SECRET}\n[mail]\noutbox_dir = ${outbox}\n`);
    fs.writeFileSync(path.join(confDir, 'chat.conf'), '[general]\nbatch_ms = 100\n');
    server = await startServer({
      htmlDir, plugins: ['tickets', 'room', 'chat', 'help', 'analytics'], pluginsConfigDir: confDir,
      sqlDir: SQL_DIR, ports: { http, admin }, extraConfig: `[database]\nconninfo = ${db}\n`,
    });
    ev = await setupEvent(server, outbox, { n: 0, prefix: 'room-e2e' });
    const o = await eventSession(server, 'odeon.plugin.tickets', ev.owner.token);
    const { ticket_types: types } = await o.request({ request: 'event', event_id: ev.eventId });
    const ids = [];
    for (const [i, name] of NAMES.entries()) {
      const r = await o.request({ request: 'register', event_id: ev.eventId, ticket_type_id: types[0].id,
                                  email: `m${i}@room-e2e.example`, display_name: name, ...TERMS });
      ids.push(r.registration.participant_id);
    }
    // Checked in (they came to the live event), then split into one group and started: each
    // gets their group link by email.
    psql(db, `INSERT INTO analytics_attendees (event_id, subject, first_seen, last_seen)
      SELECT ${ev.eventId}, 'participant:' || id, now(), now() FROM unnest(ARRAY[${ids.join(',')}]::bigint[]) id`);
    const preview = await o.request({ request: 'breakout_preview', event_id: ev.eventId, group_count: 1 });
    group = preview.breakout.groups[0].id;
    const started = await o.request({ request: 'breakout_start', event_id: ev.eventId, minutes: 30 });
    assert.equal(started.emails_sent, 3, JSON.stringify(started));
    await o.close();

    ({ browser, page: console_ } = await openPage(`${site}/console.html`));
    watchErrors(console_);
    await console_.evaluate((owner) => localStorage.setItem('odeon.tickets.organiser', JSON.stringify({
      token: owner.token, kind: 'organiser', expires_at: owner.expires_at })), ev.owner);
    await console_.reload();
  });

  afterEach((t) => {
    if (server && t.passed === false) server.printLogs(`after failed test "${t.name}"`);
  });

  after(async () => {
    for (const m of members) await m.page.close().catch(() => {});
    if (browser) await browser.close();
    if (server) await server.stop();
    if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  });

  function groupLink(i) {
    for (const f of fs.readdirSync(outbox).filter((n) => n.endsWith('.eml'))) {
      const text = fs.readFileSync(path.join(outbox, f), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '=');
      if (text.includes(`To: m${i}@room-e2e.example`) && text.includes('Your group link')) {
        return text.match(/https?:\/\/\S+\/signin\.html\?token=[A-Za-z0-9_-]+&next=\S+/)[0];
      }
    }
    return null;
  }

  test('three members follow their group links and each decodes the two others', async () => {
    for (const [i, name] of NAMES.entries()) {
      const context = await browser.newContext();
      const page = await context.newPage();
      watchErrors(page);
      // stay: the page does not leave for the main stage when the test ends the breakout.
      await page.goto(`${groupLink(i)}%26stay%3D1`);
      await page.waitForURL(/room\.html/, { timeout: 20000 });
      await page.waitForSelector('#room', { state: 'visible', timeout: 20000 });
      members.push({ page, name });
    }
    for (const m of members) m.id = await selfId(m.page);
    for (const m of members) {
      const others = members.filter((x) => x !== m).map((x) => x.id);
      await waitFor(`${m.name} decodes the two others`, async () => {
        const d = await decoded(m.page);
        return others.every((id) => (d[id] || 0) > 20);
      }, 60000);
      assert.equal(await tiles(m.page), 2);
      assert.equal(await m.page.textContent('#title'), 'Group 1');
    }
  });

  // The width of the video a page receives from feed (0 when unknown).
  const widthOf = (page, feed) => page.evaluate(async (id) => {
    const room = window.roomPage.room;
    for (const s of (await room.sub.pc.getStats()).values()) {
      if (s.type !== 'inbound-rtp' || s.kind !== 'video') continue;
      const t = room.sub.pc.getTransceivers().find((x) => x.receiver.track && x.receiver.track.id === s.trackIdentifier);
      if (t && room.midFeed.get(t.mid) === id) return { width: s.frameWidth || 0, frames: s.framesDecoded || 0 };
    }
    return { width: 0, frames: 0 };
  }, feed);

  test('simulcast: a small tile gets the lowest layer, a large one a larger layer', async () => {
    const [a, b, c] = members;
    // a shows b small (substream 0); c keeps the page's choice for a few tiles (the best).
    await a.page.evaluate((id) => window.roomPage.room.prefer(id, 0), b.id);
    await waitFor('a gets b\'s quarter-size layer', async () => {
      const w = await widthOf(a.page, b.id);
      return w.width > 0 && w.width <= 960 / 4;
    }, 40000);
    const before = await widthOf(a.page, b.id);
    await waitFor('c gets a larger layer of b', async () => (await widthOf(c.page, b.id)).width >= 960 / 2, 40000);
    await waitFor('a keeps decoding the small layer', async () => {
      const w = await widthOf(a.page, b.id);
      return w.frames > before.frames + 30 && w.width <= 960 / 4;
    }, 20000);
  });

  test('team chat and help from the room; the console shows the group, its members and the flag', async () => {
    const [a, b] = members;
    await a.page.waitForSelector('#chat-form', { state: 'visible' });
    await waitFor('the chat joined', () => a.page.evaluate(() => window.roomPage.live && window.roomPage.live.rooms.has(`group:${new URLSearchParams(location.search).get('group')}`)), 15000);
    await waitFor('the chat joined for b', () => b.page.evaluate(() => window.roomPage.live && window.roomPage.live.rooms.size > 1), 15000);
    await a.page.fill('#chat-text', 'Shall we start with the demo?');
    await a.page.click('#chat-send');
    await b.page.waitForSelector('#messages li:has-text("Shall we start with the demo?")', { timeout: 10000 });
    await a.page.click('#help-raise');
    await a.page.waitForSelector('#help-state:has-text("waiting for an organiser")', { timeout: 10000 });

    await console_.waitForSelector('#app', { state: 'visible', timeout: 15000 });
    await console_.click('#live li button:has-text("room-e2e summit")');
    await console_.waitForSelector('#breakout-section', { state: 'visible', timeout: 15000 });
    const card = `#breakout-groups li[data-group="${group}"]`;
    await console_.waitForSelector(`${card}[data-help="open"]`, { timeout: 15000 });
    await console_.waitForSelector(`${card} .badge[data-live="3"]`, { timeout: 20000 });
    for (const name of NAMES) await console_.waitForSelector(`${card} li:has-text("${name}")`);
  });

  test('one leaves: the others hear it and their grid shrinks', async () => {
    const [a, b, c] = members;
    await c.page.click('#leave');
    for (const m of [a, b]) {
      await waitFor(`${m.name} hears ${c.name} leave`, () => m.page.evaluate((id) => window.roomPage.left.some((x) => x.id === id), c.id), 15000);
      await waitFor(`${m.name}'s grid shrinks`, async () => (await tiles(m.page)) === 1, 15000);
    }
    await waitFor('the console counts two', () => console_.$(`#breakout-groups li[data-group="${group}"] .badge[data-live="2"]`), 20000);
  });

  test('the organiser joins from the console, every member sees them, and the organiser mutes a member for everyone', async () => {
    const [a, b] = members;
    const card = `#breakout-groups li[data-group="${group}"]`;
    // The console's own tab follows the link (the organiser's token is in its storage).
    const org = console_;
    await console_.click(`${card} a:has-text("Join the room")`);
    await org.waitForURL(/room\.html/, { timeout: 15000 });
    await org.waitForSelector('#room', { state: 'visible', timeout: 20000 });
    const orgId = await selfId(org);
    for (const m of [a, b]) {
      await waitFor(`${m.name} sees the organiser join`, () => m.page.evaluate(() => window.roomPage.joined.some((x) => x.display === 'Olga Owner')), 15000);
      await waitFor(`${m.name} decodes the organiser`, async () => ((await decoded(m.page))[orgId] || 0) > 20, 60000);
      await waitFor(`${m.name} has two tiles again`, async () => (await tiles(m.page)) === 2, 15000);
    }
    // The organiser mutes a's microphone for everyone from a's tile: a is told, b's tile of a
    // says muted; a second click allows it again. Members have no such button.
    assert.equal(await a.page.$$eval('#grid button.moderate', (l) => l.length), 0);
    const button = `#grid li[data-id="${a.id}"] button.moderate`;
    await org.click(`${button}:has-text("Mute for everyone")`);
    await a.page.waitForSelector('#status:has-text("An organiser muted your microphone")', { timeout: 10000 });
    await b.page.waitForSelector(`#grid li.muted[data-id="${a.id}"]`, { timeout: 10000 });
    await org.click(`${button}:has-text("Allow microphone")`);
    await a.page.waitForSelector('#status:has-text("allowed your microphone again")', { timeout: 10000 });
    await b.page.waitForSelector(`#grid li:not(.muted)[data-id="${a.id}"]`, { timeout: 10000 });
  });

  test('the organiser ends the breakout: the room page counts down to the main stage and goes there', async () => {
    const [a] = members;
    const o = await eventSession(server, 'odeon.plugin.tickets', ev.owner.token);
    const ended = await o.request({ request: 'breakout_end', event_id: ev.eventId });
    assert.equal(ended.breakout.state, 'ended', JSON.stringify(ended));
    await o.close();
    // Members see the end; the organiser's page (opened without "stay") follows it to the
    // event's live page.
    await a.page.waitForSelector('#countdown:has-text("back to the main stage")', { timeout: 15000 });
    await console_.waitForURL(/live\.html\?event=/, { timeout: 15000 });
    assert.deepEqual(errors.filter((e) => !/favicon|Failed to load resource/.test(e)), []);
  });
});
