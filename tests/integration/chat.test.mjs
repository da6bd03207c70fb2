// odeon.plugin.chat on two nodes sharing one PostgreSQL, with identities from the tickets
// plugin: members on both nodes get every message exactly once and in order; a member that
// reconnects resumes from the last seq it saw without loss or duplicates; history pages back
// through every message once; a muted participant is refused; old messages expire; bad input
// (a room you are not in, too long, a flood, a forged sender, no identity, a group room of a
// participant) is refused with clear errors and the other members are not disturbed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ODEON_ONLY, isJanus, makeTempDir } from './harness.mjs';
import { eventSession, setupEvent, startEventNode, waitFor } from './event_client.mjs';
import { createDatabase, psql } from './pg.mjs';

const SECRET = 'chat-test-token-secret-0123456789abcdef';
const skip = isJanus ? ODEON_ONLY : false;
let conninfo;
let outbox;
const nodes = [];

async function startNode(name) {
  const node = await startEventNode({
    conninfo, secret: SECRET, outbox, plugins: ['chat'], name,
    confs: { chat: '[general]\nbatch_ms = 100\nrate_messages = 20\nrate_seconds = 10\n' },
  });
  nodes.push(node);
  return node;
}

/** A session on plugin whose delivered() lists every chat message pushed to it, in order. */
async function session(server, plugin, token) {
  const s = await eventSession(server, plugin, token);
  s.delivered = () => s.events((d) => d.chat === 'messages').flatMap((d) => d.messages);
  return s;
}

let owner;
let eventId;
const credentials = [];

before(async () => {
  if (skip) return;
  conninfo = createDatabase('chat');
  outbox = makeTempDir('chat-outbox-');
  await startNode('a');
  await startNode('b');
  const ev = await setupEvent(nodes[0], outbox, { n: 7, prefix: 'chat', capacity: 50, nodes });
  owner = ev.owner;
  eventId = ev.eventId;
  credentials.push(...ev.participants.map((p) => p.credential));
});

after(async () => {
  for (const n of nodes) await n.stop();
});

test('members on two nodes get every message once, in order; a reconnect resumes without loss', { skip }, async () => {
  const [a, b] = nodes;
  const members = [];
  for (let i = 0; i < 6; i++) {
    const s = await session(i % 2 ? b : a, 'odeon.plugin.chat', credentials[i]);
    const j = await s.request({ request: 'join', event_id: eventId, room: 'main' });
    assert.equal(j.chat, 'joined', JSON.stringify(j));
    members.push(s);
  }
  const PER = 8;
  await Promise.all(members.map(async (s, i) => {
    for (let k = 0; k < PER; k++) {
      const r = await s.request({ request: 'send', event_id: eventId, room: 'main', text: `m${i}-${k} ' ; DROP TABLE chat_messages; --` });
      assert.equal(r.chat, 'sent', JSON.stringify(r));
    }
  }));
  const total = members.length * PER;
  for (const s of members) {
    const got = await waitFor('every message', () => (s.delivered().length >= total ? s.delivered() : null));
    assert.equal(got.length, total, 'no duplicates');
    const seqs = got.map((m) => m.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'in seq order');
    assert.equal(new Set(seqs).size, total);
    assert.ok(got.every((m) => /^Person \d$/.test(m.name)), 'names resolved from the participants');
  }
  // The same order on every node.
  const order = members[0].delivered().map((m) => m.text).join('|');
  for (const s of members) assert.equal(s.delivered().map((m) => m.text).join('|'), order);

  // A member drops; messages go on; it comes back (on the other node) with after_seq.
  const gone = members[0];
  const lastSeen = gone.delivered().at(-1).seq;
  await gone.close();
  for (let k = 0; k < 5; k++) await members[1].request({ request: 'send', event_id: eventId, room: 'main', text: `while away ${k}` });
  const back = await session(b, 'odeon.plugin.chat', credentials[0]);
  const rejoined = await back.request({ request: 'join', event_id: eventId, room: 'main', after_seq: lastSeen });
  const missed = rejoined.messages.map((m) => m.text);
  await members[2].request({ request: 'send', event_id: eventId, room: 'main', text: 'after the return' });
  await waitFor('the message after the return', () => back.delivered().some((m) => m.text === 'after the return'));
  const all = [...rejoined.messages, ...back.delivered()].map((m) => m.seq);
  assert.equal(new Set(all).size, all.length, 'no duplicates after the resume');
  assert.deepEqual(missed.slice(0, 5), [0, 1, 2, 3, 4].map((k) => `while away ${k}`));
  assert.equal(all[0], lastSeen + 1, 'nothing lost');
  for (const s of members.slice(1)) await s.close();
  await back.close();
});

test('history pages back through every message exactly once', { skip }, async () => {
  const s = await session(nodes[1], 'odeon.plugin.chat', credentials[3]);
  const j = await s.request({ request: 'join', event_id: eventId, room: 'main' });
  assert.equal(j.messages.length, 20, 'the last 20 on join');
  const seen = j.messages.map((m) => m.seq);
  let before = seen[0];
  for (;;) {
    const h = await s.request({ request: 'history', event_id: eventId, room: 'main', before_seq: before, limit: 7 });
    assert.equal(h.chat, 'history', JSON.stringify(h));
    if (h.messages.length === 0) break;
    seen.unshift(...h.messages.map((m) => m.seq));
    before = h.messages[0].seq;
  }
  assert.equal(new Set(seen).size, seen.length);
  assert.deepEqual(seen, Array.from({ length: j.last_seq }, (_, i) => i + 1));
  await s.close();
});

test('bad input is refused with clear errors; other members are not disturbed', { skip }, async () => {
  const [a, b] = nodes;
  const bystander = await session(b, 'odeon.plugin.chat', credentials[5]);
  await bystander.request({ request: 'join', event_id: eventId, room: 'main' });
  const s = await session(a, 'odeon.plugin.chat', credentials[4]);
  const err = (r) => r.error_code;
  assert.equal(err(await s.request({ request: 'send', event_id: eventId, room: 'main', text: 'not joined' })), 444);
  assert.equal(err(await s.request({ request: 'join', event_id: eventId, room: 'group:3' })), 443, 'a participant in a group room');
  assert.equal(err(await s.request({ request: 'join', event_id: eventId + 999, room: 'main' })), 443, 'another event');
  assert.equal(err(await s.request({ request: 'join', event_id: eventId, room: 'lobby' })), 442);
  assert.equal(err(await s.request({ request: 'join', room: 'main' })), 441);
  await s.request({ request: 'join', event_id: eventId, room: 'main' });
  assert.equal(err(await s.request({ request: 'send', event_id: eventId, room: 'main', text: 'x'.repeat(1001) })), 446);
  assert.equal(err(await s.request({ request: 'send', event_id: eventId, room: 'main', text: 'forged', sender: 'participant:1' })), 443);
  assert.equal(err(await s.request({ request: 'announce', event_id: eventId, text: 'I am not an organiser' })), 443);
  const anonymous = await session(a, 'odeon.plugin.chat');
  assert.equal(err(await anonymous.request({ request: 'join', event_id: eventId, room: 'main' })), 443);
  await anonymous.close();
  // A flood: the bucket holds 20; the rest are refused, nothing else happens.
  const codes = [];
  for (let k = 0; k < 30; k++) {
    const r = await s.request({ request: 'send', event_id: eventId, room: 'main', text: `flood ${k}` });
    codes.push(r.chat === 'sent' ? 'sent' : r.error_code);
  }
  const sent = codes.filter((c) => c === 'sent').length;
  assert.ok(sent >= 20 && sent < 30, `sent ${sent}`);
  assert.ok(codes.includes(447));
  await waitFor('the bystander to get the sent ones', () => bystander.delivered().filter((m) => m.text.startsWith('flood')).length === sent);
  await s.close();
  await bystander.close();
});

test('moderation: a muted participant is refused; a deleted message is gone for everyone; announcements', { skip }, async () => {
  const [a, b] = nodes;
  const org = await session(a, 'odeon.plugin.chat', owner.token);
  await org.request({ request: 'join', event_id: eventId, room: 'main' });
  const p = await session(b, 'odeon.plugin.chat', credentials[6]);
  await p.request({ request: 'join', event_id: eventId, room: 'main' });
  const sent = await p.request({ request: 'send', event_id: eventId, room: 'main', text: 'something rude' });
  const subject = (await waitFor('the rude message', () => org.delivered().find((m) => m.seq === sent.seq))).sender;
  assert.equal((await org.request({ request: 'delete', event_id: eventId, room: 'main', seq: sent.seq })).done, true);
  await waitFor('the deletion to reach the sender', () => p.ws.all.some((m) => m.plugindata?.data?.deleted?.main?.includes(sent.seq)));
  const muted = await org.request({ request: 'mute', event_id: eventId, subject });
  assert.equal(muted.done, true, JSON.stringify(muted));
  const again = await p.request({ request: 'send', event_id: eventId, room: 'main', text: 'again' });
  assert.equal(again.error_code, 445, JSON.stringify({ again, subject, mutes: psql(conninfo, 'SELECT event_id, subject FROM chat_mutes') }));
  assert.equal((await org.request({ request: 'unmute', event_id: eventId, subject })).done, true);
  assert.equal((await p.request({ request: 'send', event_id: eventId, room: 'main', text: 'sorry' })).chat, 'sent');
  const ann = await org.request({ request: 'announce', event_id: eventId, text: 'Keynote in 5 minutes' });
  assert.equal(ann.chat, 'sent');
  const got = await waitFor('the announcement', () => p.delivered().find((m) => m.kind === 'announcement'));
  assert.equal(got.name, 'Olga Owner');
  const rows = psql(conninfo, `SELECT count(*) FROM chat_messages WHERE body = 'something rude'`);
  assert.equal(rows, '0', 'a deleted message keeps no text');
  await org.close();
  await p.close();
});

test('messages older than the retention are purged', { skip }, async () => {
  psql(conninfo, `UPDATE chat_messages SET created_at = now() - interval '26 days' WHERE seq <= 3 AND event_id = ${eventId}`);
  // The purge runs at start-up and every hour: a third node starting does it now.
  const c = await startNode('c');
  await waitFor('the purge', () => psql(conninfo, `SELECT count(*) FROM chat_messages WHERE seq <= 3 AND event_id = ${eventId}`) === '0');
  assert.ok(Number(psql(conninfo, `SELECT count(*) FROM chat_messages WHERE event_id = ${eventId}`)) > 40);
  await c.stop();
  nodes.pop();
});
