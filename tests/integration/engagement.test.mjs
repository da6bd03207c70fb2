// odeon.plugin.help and odeon.plugin.analytics on two nodes sharing one PostgreSQL, with
// identities from the tickets plugin and messages from the chat plugin:
// - a help request raised on one node reaches consoles on both; one console claims it, the
//   others and the participant see who is coming; it is resolved; bad requests are refused;
// - heartbeats over a simulated hour (the plugin's test clock, moved through the admin API on
//   both nodes) give the right connected minutes, a ten-minute absence included;
// - a participant with three tabs and five reconnects is one attendee, credited once;
// - the dashboard is pushed and its figures change; GET /metrics serves them to Prometheus.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getUrl } from './client.mjs';
import { ODEON_ONLY, isJanus, makeTempDir } from './harness.mjs';
import { adminPlugin, eventSession, setupEvent, startEventNode, waitFor } from './event_client.mjs';
import { createDatabase, psql } from './pg.mjs';

const SECRET = 'engagement-test-token-secret-0123456789';
const HELP = 'odeon.plugin.help';
const ANALYTICS = 'odeon.plugin.analytics';
const CHAT = 'odeon.plugin.chat';
const skip = isJanus ? ODEON_ONLY : false;
const nodes = [];
let ev; // { owner, eventId, participants }
let conninfo;

before(async () => {
  if (skip) return;
  conninfo = createDatabase('engagement');
  const outbox = makeTempDir('engagement-outbox-');
  const confs = {
    analytics: '[general]\nflush_ms = 100\ndashboard_ms = 300\ntest_clock = true\n',
    chat: '[general]\nbatch_ms = 100\n',
  };
  for (const name of ['a', 'b']) {
    nodes.push(await startEventNode({ conninfo, secret: SECRET, outbox, plugins: ['chat', 'help', 'analytics'], confs, name }));
  }
  ev = await setupEvent(nodes[0], outbox, { n: 4, prefix: 'engage', nodes });
});

after(async () => {
  for (const n of nodes) await n.stop();
});

test('a help request reaches consoles on both nodes; one claims, all see it; it is resolved', { skip }, async () => {
  const [a, b] = nodes;
  const { eventId } = ev;
  const consoleA = await eventSession(a, HELP, ev.owner.token);
  const consoleB = await eventSession(b, HELP, ev.owner.token);
  for (const c of [consoleA, consoleB]) {
    const w = await c.request({ request: 'watch', event_id: eventId });
    assert.equal(w.help, 'watching', JSON.stringify(w));
  }
  const p = await eventSession(a, HELP, ev.participants[0].credential);
  // The group comes from the participant's breakout (none here), never from the body.
  const raised = await p.request({ request: 'raise', event_id: eventId, note: "Our demo won't start", group_id: 3 });
  assert.equal(raised.help, 'raised', JSON.stringify(raised));
  const id = raised.request.id;
  assert.equal(raised.request.requester_name, 'Person 0');
  assert.equal(raised.request.group_id, null);
  const seen = (s, status) => waitFor(`${status} on a console`, () => s.events((d) => d.help === 'updated' && d.request.id === id && d.request.status === status)[0]);
  await seen(consoleA, 'open');
  await seen(consoleB, 'open');

  const claimed = await consoleB.request({ request: 'claim', event_id: eventId, id });
  assert.equal(claimed.help, 'claimed', JSON.stringify(claimed));
  const onA = await seen(consoleA, 'claimed');
  assert.equal(onA.request.claimed_by_name, 'Olga Owner');
  const coming = await seen(p, 'claimed');
  assert.equal(coming.request.claimed_by_name, 'Olga Owner', 'the participant sees who is coming');

  // Someone else's claim is refused, as is a second open request and staff requests.
  const other = await eventSession(a, HELP, ev.participants[1].credential);
  assert.equal((await other.request({ request: 'claim', event_id: eventId, id })).error_code, 433);
  assert.equal((await other.request({ request: 'cancel', event_id: eventId, id })).error_code, 433);
  assert.equal((await other.request({ request: 'watch', event_id: eventId })).error_code, 433);
  assert.equal((await p.request({ request: 'raise', event_id: eventId, note: 'again' })).error_code, 435);
  assert.equal((await p.request({ request: 'raise', event_id: eventId, note: 'x'.repeat(281) })).error_code, 432);
  assert.equal((await p.request({ request: 'raise', event_id: eventId + 999 })).error_code, 433, 'another event');
  assert.equal((await p.request({ request: 'raise', event_id: 'abc' })).error_code, 432);
  assert.equal((await p.request({ request: 'claim', event_id: eventId, id: 999999 })).error_code, 433);
  const anon = await eventSession(a, HELP);
  assert.equal((await anon.request({ request: 'raise', event_id: eventId })).error_code, 433, 'no identity');
  await anon.close();

  const resolved = await consoleA.request({ request: 'resolve', event_id: eventId, id });
  assert.equal(resolved.request.status, 'resolved');
  await seen(consoleB, 'resolved');
  await seen(p, 'resolved');
  assert.equal((await consoleB.request({ request: 'claim', event_id: eventId, id })).error_code, 437, 'closed');

  // A second request, cancelled by its participant: the consoles see that too.
  const second = await other.request({ request: 'raise', event_id: eventId, note: 'Need a mentor' });
  const cancelled = await other.request({ request: 'cancel', event_id: eventId, id: second.request.id });
  assert.equal(cancelled.help, 'cancelled', JSON.stringify(cancelled));
  await waitFor('the cancel on B', () => consoleB.events((d) => d.help === 'updated' && d.request.id === second.request.id && d.request.status === 'cancelled')[0]);
  const list = await consoleB.request({ request: 'list', event_id: eventId });
  assert.deepEqual(list.requests.map((r) => r.status).sort(), ['cancelled', 'resolved']);
  const mine = await p.request({ request: 'mine', event_id: eventId });
  assert.deepEqual(mine.requests.map((r) => r.id), [id]);
  for (const s of [consoleA, consoleB, p, other]) await s.close();
});

/** Moves both nodes' analytics clocks forward together. */
async function advance(seconds) {
  for (const n of nodes) {
    const r = await adminPlugin(n, ANALYTICS, { request: 'advance_clock', seconds });
    assert.equal(r.analytics, 'clock', JSON.stringify(r));
  }
}

async function participantRow(organiser, subject, check) {
  return waitFor(`analytics of ${subject}`, async () => {
    const r = await organiser.request({ request: 'participants', event_id: ev.eventId });
    const row = r.participants?.find((x) => x.subject === subject);
    return row && check(row) ? row : null;
  });
}

test('heartbeats over a simulated hour give the right connected minutes; three tabs and five reconnects count once', { skip }, async () => {
  const [a, b] = nodes;
  const { eventId, participants } = ev;
  const organiser = await eventSession(b, ANALYTICS, ev.owner.token);
  const dashboard = await organiser.request({ request: 'dashboard', event_id: eventId });
  assert.equal(dashboard.analytics, 'figures', JSON.stringify(dashboard));

  // Participant 2: 20 minutes on node A, away 10, then 30 on node B.
  const [p2] = [participants[2]];
  let page = await eventSession(a, ANALYTICS, p2.credential);
  const joined = await page.request({ request: 'join', event_id: eventId });
  assert.equal(joined.heartbeat_seconds, 60);
  for (let m = 1; m <= 20; m++) {
    await advance(60);
    assert.equal((await page.request({ request: 'heartbeat', event_id: eventId })).counted, true);
  }
  await page.request({ request: 'leave', event_id: eventId });
  await page.close();
  await advance(600);
  page = await eventSession(b, ANALYTICS, p2.credential);
  await page.request({ request: 'join', event_id: eventId });

  // Participant 3 meanwhile: three tabs (two nodes) and five reconnects, all within minutes.
  const p3 = participants[3];
  const tabs = [];
  for (const n of [a, b, a]) {
    const t = await eventSession(n, ANALYTICS, p3.credential);
    await t.request({ request: 'join', event_id: eventId });
    tabs.push(t);
  }
  for (let r = 0; r < 5; r++) {
    const t = tabs.shift();
    await t.close(); // a dropped connection: the session goes with its WebSocket
    const again = await eventSession(r % 2 ? a : b, ANALYTICS, p3.credential);
    await again.request({ request: 'join', event_id: eventId });
    tabs.push(again);
  }
  for (let m = 1; m <= 30; m++) {
    await advance(60);
    await page.request({ request: 'heartbeat', event_id: eventId });
    if (m <= 3) for (const t of tabs) await t.request({ request: 'heartbeat', event_id: eventId });
  }
  await page.request({ request: 'leave', event_id: eventId });
  for (const t of tabs) await t.request({ request: 'leave', event_id: eventId });

  const row2 = await participantRow(organiser, p2.subject, (r) => r.connected_minutes >= 50);
  assert.equal(row2.connected_minutes, 50, JSON.stringify(row2));
  // Three tabs beating for three minutes are three minutes, not nine.
  const row3 = await participantRow(organiser, p3.subject, (r) => r.connected_minutes >= 3);
  assert.equal(row3.connected_minutes, 3, JSON.stringify(row3));
  const all = await organiser.request({ request: 'participants', event_id: eventId });
  assert.equal(all.participants.filter((r) => r.subject === p3.subject).length, 1);
  const figures = await waitFor('the attendees', async () => {
    const f = (await organiser.request({ request: 'figures', event_id: eventId })).figures;
    return f.attendees === 2 && f.current_viewers === 0 ? f : null;
  });
  assert.equal(figures.attendees, 2, 'each participant once, however many tabs and reconnects');
  assert.equal(figures.peak_concurrent, 2);
  assert.ok(organiser.events((d) => d.analytics === 'dashboard').length > 0, 'dashboard pushes');
  await page.close();
  for (const t of tabs) await t.close();
  await organiser.close();
});

test('the dashboard follows messages, viewers and help live; GET /metrics serves the figures', { skip }, async () => {
  const [a, b] = nodes;
  const { eventId, participants } = ev;
  const organiser = await eventSession(a, ANALYTICS, ev.owner.token);
  await organiser.request({ request: 'dashboard', event_id: eventId });
  const latest = () => organiser.events((d) => d.analytics === 'dashboard').at(-1)?.figures;
  await waitFor('a first push', () => latest());
  const before = latest();

  const page = await eventSession(b, ANALYTICS, participants[1].credential);
  await page.request({ request: 'join', event_id: eventId });
  const chat = await eventSession(b, CHAT, participants[1].credential);
  await chat.request({ request: 'join', event_id: eventId, room: 'main' });
  for (let i = 0; i < 3; i++) assert.equal((await chat.request({ request: 'send', event_id: eventId, room: 'main', text: `hello ${i}` })).chat, 'sent');
  const help = await eventSession(b, HELP, participants[1].credential);
  await help.request({ request: 'raise', event_id: eventId, note: 'Mic broken' });

  // The admin API writes the queue at once (and checks its own input).
  assert.equal((await adminPlugin(b, ANALYTICS, { request: 'flush' })).analytics, 'flushing');
  assert.equal((await adminPlugin(b, ANALYTICS, { request: 'advance_clock', seconds: -5 })).error_code, 472);
  assert.equal((await adminPlugin(b, ANALYTICS, { request: 'rewind' })).error_code, 470);
  const live = await waitFor('the dashboard to change', () => {
    const f = latest();
    return f && f.messages_total === before.messages_total + 3 && f.current_viewers === 1 && f.open_help === before.open_help + 1 ? f : null;
  });
  assert.equal(live.attendees, before.attendees + 1);
  // Per minute: the three messages are in one minute of the series; once that minute is over
  // (the clock moved on), it is the "last minute" figure.
  await waitFor('the minute of the messages', () => latest()?.series.some((x) => x.messages === 3));
  await advance(60);
  const after = await waitFor('the next minute', () => {
    const f = latest();
    return f && f.at !== live.at && f.series.at(-2) && f.series.at(-1).minute !== live.series.at(-1).minute ? f : null;
  });
  assert.equal(after.messages_per_minute, after.series.at(-2).messages);
  const row = await participantRow(organiser, participants[1].subject, (r) => r.messages === 3);
  assert.equal(row.name, 'Person 1');

  // Bad input and roles.
  assert.equal((await page.request({ request: 'dashboard', event_id: eventId })).error_code, 473, 'participants see no dashboard');
  assert.equal((await page.request({ request: 'heartbeat', event_id: eventId + 1 })).error_code, 473);
  const other = await eventSession(b, ANALYTICS, participants[0].credential);
  assert.equal((await other.request({ request: 'heartbeat', event_id: eventId })).error_code, 474, 'not joined');
  assert.equal((await other.request({ request: 'nonsense', event_id: eventId })).error_code, 470);
  await other.close();

  // Prometheus: the bearer token is the admin secret.
  const metricsUrl = a.adminUrl.replace(/\/admin$/, '/metrics');
  const refused = await getUrl(metricsUrl);
  assert.equal(refused.status, 401);
  assert.equal(refused.json?.error, 'unauthorized');
  assert.equal((await getUrl(metricsUrl, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  const m = await getUrl(metricsUrl, { headers: { authorization: `Bearer ${a.adminSecret}` } });
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  assert.match(m.text, /^# TYPE odeon_sessions gauge$/m);
  assert.match(m.text, new RegExp(`^odeon_event_attendees\\{event="${eventId}"\\} 3$`, 'm'));
  assert.match(m.text, new RegExp(`^odeon_event_open_help_requests\\{event="${eventId}"\\} 1$`, 'm'));
  assert.match(m.text, /^odeon_analytics_rows_written_total [1-9]\d*$/m);
  // Every sample line is "name{labels} value" or "name value" (the exposition format).
  for (const line of m.text.split('\n').filter((l) => l && !l.startsWith('#'))) assert.match(line, /^[a-z_]+(\{[a-z_]+="[^"]*"\})? -?[0-9.e+]+$/, line);

  // The engagement log has the other plugins' events from the bus (never message texts).
  const kinds = await waitFor('the engagement rows', () => {
    const rows = psql(conninfo, `SELECT kind || ' ' || count(*) FROM analytics_events WHERE event_id = ${eventId} GROUP BY kind ORDER BY kind`).split('\n');
    return rows.includes('message_sent 3') && rows.includes('help_requested 3') ? rows : null;
  });
  assert.ok(kinds.includes('registered 4'), kinds.join(', '));
  assert.ok(kinds.includes('first_connect 3'), kinds.join(', '));
  assert.equal(psql(conninfo, `SELECT count(*) FROM analytics_events WHERE detail::text LIKE '%hello%'`), '0');

  for (const s of [page, chat, help, organiser]) await s.close();
});
