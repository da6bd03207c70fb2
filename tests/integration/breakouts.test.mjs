// Breakouts on a real PostgreSQL (tickets, room, chat and help plugins):
// - 600 checked-in participants (and a few who never came) split into groups of 6: balanced,
//   pre-formed teams kept whole, hosts and absentees left out; a person moved and back;
// - start: 600 emails in the outbox, each with a working link to its group's room; a member
//   joins their group's room and chat and is refused group B's; a lost-link request sends
//   exactly one new email (the group link again);
// - a group's submission credits its members by id; the organiser sees it; analytics records
//   a "submission" event; a help request
//   carries the group;
// - extend, the countdown and the end reach the room's members ("ended", back to the main
//   stage); bad requests are refused and change nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ODEON_ONLY, isJanus, makeTempDir } from './harness.mjs';
import { eventSession, setupEvent, startEventNode, waitFor } from './event_client.mjs';
import { createDatabase, psql } from './pg.mjs';

const SECRET = 'breakouts-test-token-secret-0123456789ab';
const skip = isJanus ? ODEON_ONLY : false;
const N = 600;
let node;
let ev;
let outbox;
let conninfo;
let owner;
const teams = new Map(); // participant id -> team label

before(async () => {
  if (skip) return;
  conninfo = createDatabase('breakouts');
  outbox = makeTempDir('breakouts-outbox-');
  node = await startEventNode({ conninfo, secret: SECRET, outbox, plugins: ['room', 'chat', 'help', 'analytics'],
    confs: { room: '[general]\ncountdown_seconds = 5\n', analytics: '[general]\nflush_ms = 100\n' },
    name: 'breakouts' });
  ev = await setupEvent(node, outbox, { n: 1, prefix: 'split', capacity: 1000 });
  const type = psql(conninfo, `SELECT id FROM tickets_ticket_types WHERE event_id = ${ev.eventId}`);
  // 600 members who came to the live event (analytics_attendees: checked in) and 5 who never
  // did. Teams formed beforehand: 20 teams of 3 and one of 4.
  psql(conninfo, `WITH p AS (INSERT INTO tickets_participants (event_id, email, display_name, team)
      SELECT ${ev.eventId}, 'member' || i || '@split.example', 'Member ' || i,
        CASE WHEN i <= 60 THEN 'team-' || ((i - 1) / 3) WHEN i <= 64 THEN 'team-big' END
      FROM generate_series(1, ${N + 5}) i RETURNING id, email)
    INSERT INTO tickets_orders (event_id, ticket_type_id, participant_id, status, amount, currency)
      SELECT ${ev.eventId}, ${type}, id, 'confirmed', 0, 'eur' FROM p`);
  psql(conninfo, `INSERT INTO analytics_attendees (event_id, subject, first_seen, last_seen)
    SELECT ${ev.eventId}, 'participant:' || id, now(), now() FROM tickets_participants
    WHERE event_id = ${ev.eventId} AND email LIKE 'member%' AND
      substring(email FROM 'member([0-9]+)@')::int <= ${N}`);
  for (const line of psql(conninfo, `SELECT id, team FROM tickets_participants WHERE event_id = ${ev.eventId} AND team IS NOT NULL`).split('\n')) {
    const [id, team] = line.split('|');
    teams.set(Number(id), team);
  }
  owner = await eventSession(node, 'odeon.plugin.tickets', ev.owner.token);
});

after(async () => {
  if (owner) await owner.close();
  if (node) await node.stop();
});

const mails = (to) => fs.readdirSync(outbox).filter((f) => f.endsWith('.eml'))
  .map((f) => fs.readFileSync(path.join(outbox, f), 'utf8').replace(/=\r?\n/g, '').replace(/=3D/g, '='))
  .filter((text) => !to || text.includes(`To: ${to}`));
const emailOf = (id) => psql(conninfo, `SELECT email FROM tickets_participants WHERE id = ${id}`);

let breakout;

test('a split of 600 checked-in participants into groups of 6 is balanced and keeps teams', { skip }, async () => {
  let r = await owner.request({ request: 'breakout_preview', event_id: ev.eventId, group_size: 6 });
  breakout = r.breakout;
  assert.equal(breakout.state, 'draft');
  assert.equal(breakout.groups.length, 100);
  const members = breakout.groups.flatMap((g) => g.members.map((m) => m.participant_id));
  assert.equal(members.length, N);
  assert.equal(new Set(members).size, N);
  for (const g of breakout.groups) assert.equal(g.members.length, 6, JSON.stringify(g));
  // Teams whole; absentees and the participant who never connected left out.
  const groupOf = new Map();
  for (const g of breakout.groups) for (const m of g.members) groupOf.set(m.participant_id, g.id);
  const teamGroups = new Map();
  for (const [id, team] of teams) {
    if (!groupOf.has(id)) continue;
    if (!teamGroups.has(team)) teamGroups.set(team, new Set());
    teamGroups.get(team).add(groupOf.get(id));
  }
  assert.equal(teamGroups.size, 21);
  for (const [team, groups] of teamGroups) assert.equal(groups.size, 1, `team ${team} split over ${[...groups]}`);
  assert.ok(!groupOf.has(ev.participants[0].id));

  // By group count, then back to groups of 6; a move and back.
  r = await owner.request({ request: 'breakout_preview', event_id: ev.eventId, group_count: 7 });
  const sizes = r.breakout.groups.map((g) => g.members.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, JSON.stringify(sizes));
  breakout = (await owner.request({ request: 'breakout_preview', event_id: ev.eventId, group_size: 6 })).breakout;
  const [g1, g2] = breakout.groups;
  const moving = g1.members[0].participant_id;
  r = await owner.request({ request: 'breakout_move', event_id: ev.eventId, participant_id: moving, group_id: g2.id });
  assert.equal(r.breakout.groups[0].members.length, 5);
  assert.equal(r.breakout.groups[1].members.length, 7);
  r = await owner.request({ request: 'breakout_move', event_id: ev.eventId, participant_id: moving, group_id: g1.id });
  assert.equal(r.breakout.groups[0].members.length, 6);
  breakout = r.breakout;

  // Refusals: no size, a size of 0, a group of another event, a participant's session.
  r = await owner.request({ request: 'breakout_preview', event_id: ev.eventId });
  assert.equal(r.error_code, 481, JSON.stringify(r));
  r = await owner.request({ request: 'breakout_preview', event_id: ev.eventId, group_size: 0 });
  assert.equal(r.error_code, 482, JSON.stringify(r));
  r = await owner.request({ request: 'breakout_move', event_id: ev.eventId, participant_id: moving, group_id: 999999 });
  assert.equal(r.error_code, 484, JSON.stringify(r));
  const p = await eventSession(node, 'odeon.plugin.tickets', ev.participants[0].credential);
  r = await p.request({ request: 'breakout_preview', event_id: ev.eventId, group_size: 6 });
  assert.equal(r.error_code, 483, JSON.stringify(r));
  r = await p.request({ request: 'breakout_mine' });
  assert.equal(r.group, null);
  await p.close();
});

let member; // { id, email, group, credential }
let other;  // a member of another group

test('start sends 600 group links that work; a member gets into their room and chat, not another group\'s', { skip }, async () => {
  const before = mails().length;
  const r = await owner.request({ request: 'breakout_start', event_id: ev.eventId, minutes: 30 }, 60000);
  assert.equal(r.breakout.state, 'running', JSON.stringify(r).slice(0, 300));
  assert.equal(r.emails_sent, N);
  assert.equal(r.emails_failed, 0);
  await waitFor('600 emails in the outbox', () => mails().length - before === N, 20000);
  const groupLinks = mails().filter((t) => t.includes('Your group link'));
  assert.equal(groupLinks.length, N);
  const [ga, gb] = breakout.groups;
  const id = ga.members[0].participant_id;
  const text = mails(emailOf(id)).find((t) => t.includes('Your group link'));
  assert.match(text, new RegExp(`next=%2Froom\\.html%3Fevent%3D${ev.eventId}%26group%3D${ga.id}`));
  const token = text.match(/token=([A-Za-z0-9_-]+)/)[1];
  const t = await eventSession(node, 'odeon.plugin.tickets');
  const red = await t.request({ request: 'redeem_link', token });
  assert.ok(red.credential, JSON.stringify(red));
  await t.close();
  member = { id, group: ga.id, credential: red.credential, email: emailOf(id) };
  const mine = await eventSession(node, 'odeon.plugin.tickets', member.credential);
  const g = (await mine.request({ request: 'breakout_mine' })).group;
  assert.equal(g.id, ga.id);
  assert.equal(g.members.length, 6);
  await mine.close();

  // The room and chat of their group; not group B's.
  const room = await eventSession(node, 'odeon.plugin.room', member.credential);
  let j = await room.request({ request: 'join', ptype: 'publisher', room: gb.id });
  assert.equal(j.error_code, 433, JSON.stringify(j));
  j = await room.request({ request: 'join', ptype: 'publisher', room: ga.id });
  assert.equal(j.videoroom, 'joined', JSON.stringify(j));
  assert.equal(j.breakout.state, 'running');
  member.room = room;
  const chat = await eventSession(node, 'odeon.plugin.chat', member.credential);
  let c = await chat.request({ request: 'join', event_id: ev.eventId, room: `group:${gb.id}` });
  assert.equal(c.error_code, 443, JSON.stringify(c));
  c = await chat.request({ request: 'join', event_id: ev.eventId, room: `group:${ga.id}` });
  assert.equal(c.chat, 'joined', JSON.stringify(c));
  await chat.close();
  other = { id: gb.members[0].participant_id, group: gb.id };

  // A lost link: exactly one new email, again to the group's room.
  const count = mails(member.email).length;
  const again = await eventSession(node, 'odeon.plugin.tickets');
  const sent = await again.request({ request: 'request_link', event_id: ev.eventId, email: member.email });
  assert.equal(sent.sent, true);
  await waitFor('one new email', () => mails(member.email).length === count + 1);
  await new Promise((res) => setTimeout(res, 500));
  assert.equal(mails(member.email).length, count + 1);
  assert.ok(mails(member.email).some((m) => m.includes(`group%3D${ga.id}`) && m.includes('Your group link') && m !== text));
  await again.close();
});

test('a submission credits the group by id; help requests carry the group', { skip }, async () => {
  const p = await eventSession(node, 'odeon.plugin.tickets', member.credential);
  let r = await p.request({ request: 'submit', title: 'Team rocket', link: 'https://example.org/demo', text: 'We built a thing.' });
  assert.equal(r.submission.group_id, member.group, JSON.stringify(r));
  assert.equal(r.submission.contributors.length, 6);
  assert.ok(r.submission.contributors.includes(member.id));
  r = await p.request({ request: 'submit', title: '', link: 'https://example.org' });
  assert.equal(r.error_code, 482, JSON.stringify(r));
  r = await p.request({ request: 'submit', title: 'x', link: 'javascript:alert(1)' });
  assert.equal(r.error_code, 482, JSON.stringify(r));
  await p.close();
  const list = await owner.request({ request: 'submissions', event_id: ev.eventId });
  assert.equal(list.submissions.length, 1);
  assert.equal(list.submissions[0].title, 'Team rocket');
  // Contributors stay as ids: nothing personal is copied into the submission.
  assert.ok(!JSON.stringify(list.submissions[0]).includes('@split.example'));
  // The analytics plugin records a "submission" event: who by id and which group, no text.
  const row = await waitFor('the submission analytics event', () => psql(conninfo,
    `SELECT subject, detail->>'group_id' FROM analytics_events WHERE event_id = ${ev.eventId}
     AND kind = 'submission'`).split('\n').map((l) => l.trim()).filter(Boolean)[0], 10000);
  assert.deepEqual(row.split('|').map((x) => x.trim()), [`participant:${member.id}`, String(member.group)]);

  const help = await eventSession(node, 'odeon.plugin.help', member.credential);
  const raised = await help.request({ request: 'raise', event_id: ev.eventId, note: 'stuck' });
  assert.equal(raised.request.group_id, member.group, JSON.stringify(raised));
  await help.close();
});

test('extend, countdown and end reach the room; everyone is sent back to the main stage', { skip }, async () => {
  const room = member.room;
  let r = await owner.request({ request: 'breakout_extend', event_id: ev.eventId, minutes: 10 });
  assert.equal(r.breakout.state, 'running');
  await waitFor('extended', () => room.events((d) => d.breakout === 'extended')[0]);
  // The end comes by the clock: 8 s from now (the trigger tells every node).
  psql(conninfo, `UPDATE breakouts SET ends_at = now() + interval '8 seconds' WHERE event_id = ${ev.eventId} AND state = 'running'`);
  const countdown = await waitFor('countdown', () => room.events((d) => d.breakout === 'countdown')[0], 15000);
  assert.ok(countdown.seconds_left <= 5 && countdown.seconds_left >= 0, JSON.stringify(countdown));
  const ended = await waitFor('ended', () => room.events((d) => d.breakout === 'ended')[0], 15000);
  assert.equal(ended.next, 'main_stage');
  assert.equal(ended.event_id, ev.eventId);
  // The organiser ends it in the database too; a participant may no longer join.
  r = await owner.request({ request: 'breakout_end', event_id: ev.eventId });
  assert.equal(r.breakout.state, 'ended', JSON.stringify(r));
  const late = await eventSession(node, 'odeon.plugin.room', member.credential);
  const j = await late.request({ request: 'join', ptype: 'publisher', room: member.group });
  assert.equal(j.error_code, 433, JSON.stringify(j));
  await late.close();
  r = await owner.request({ request: 'breakout_end', event_id: ev.eventId });
  assert.equal(r.error_code, 485, JSON.stringify(r));
  await room.close();
});
