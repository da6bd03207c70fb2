// WebSocket clients that read slower than events come, with a busy chat room as the source:
// - a client that pauses while megabytes of events pile up (more than the kernel's socket
//   buffers hold, so the server's writes come back short) gets every event once it reads
//   again, and keeps its connection (lws refuses a write while a short one is pending: the
//   transport must wait for the next writable callback);
// - a client that stops reading for good is dropped once its queue passes [http]
//   client_queue_size, and a member that reads is not disturbed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ODEON_ONLY, isJanus, makeTempDir, sleep } from './harness.mjs';
import { eventSession, setupEvent, startEventNode, waitFor } from './event_client.mjs';
import { createDatabase } from './pg.mjs';

const skip = isJanus ? ODEON_ONLY : false;
const TEXT = 'x'.repeat(4000);
let node;   // [http] client_queue_size = 4 MiB
let roomy;  // the default (16 MiB)
let ev;

before(async () => {
  if (skip) return;
  const conninfo = createDatabase('backpressure');
  const outbox = makeTempDir('backpressure-outbox-');
  node = await startEventNode({
    conninfo, secret: 'backpressure-token-secret-0123456789ab', outbox, plugins: ['chat'], name: 'bp',
    confs: { chat: '[general]\nmax_chars = 5000\nrate_messages = 1000\nrate_seconds = 1\nbatch_ms = 50\n' },
    http: { client_queue_size: 4194304 },
  });
  roomy = await startEventNode({
    conninfo, secret: 'backpressure-token-secret-0123456789ab', outbox, plugins: ['chat'], name: 'bp2',
    confs: { chat: '[general]\nmax_chars = 5000\nrate_messages = 1000\nrate_seconds = 1\nbatch_ms = 50\n' },
  });
  ev = await setupEvent(node, outbox, { n: 3, prefix: 'bp', nodes: [node, roomy] });
});

after(async () => {
  if (node) await node.stop();
  if (roomy) await roomy.stop();
});

async function member(i, server = node) {
  const s = await eventSession(server, 'odeon.plugin.chat', ev.participants[i].credential);
  const j = await s.request({ request: 'join', event_id: ev.eventId, room: 'main' });
  assert.equal(j.chat, 'joined', JSON.stringify(j));
  s.delivered = () => s.events((d) => d.chat === 'messages').flatMap((d) => d.messages);
  return s;
}

/** Sends n messages of TEXT from s, 20 at a time; resolves with their seqs, ascending (the
 * order of storage, which concurrent sends need not follow). */
async function sendMany(s, n, tag) {
  const seqs = [];
  // The chat's rate limit (1,000 a second here) answers 447 to a faster sender: it waits.
  const send = async (k) => {
    for (;;) {
      const r = await s.request({ request: 'send', event_id: ev.eventId, room: 'main', text: `${tag} ${k} ${TEXT}` });
      if (r.error_code !== 447) return r;
      await sleep(100);
    }
  };
  for (let k = 0; k < n; k += 20) {
    const replies = await Promise.all(Array.from({ length: Math.min(20, n - k) }, (_, i) => send(k + i)));
    for (const r of replies) {
      assert.equal(r.chat, 'sent', JSON.stringify(r).slice(0, 200));
      seqs.push(r.seq);
    }
  }
  return seqs.sort((a, b) => a - b);
}

test('a client that pauses gets every event when it reads again, on the same connection', { skip }, async () => {
  const sender = await member(0, roomy);
  const slow = await member(1, roomy);
  const socket = slow.ws.ws._socket;
  socket.pause(); // nothing is read: the kernel buffers fill, then the server's writes come back short
  const seqs = await sendMany(sender, 2500, 'pause'); // about 10 MB of events
  await sleep(500);
  socket.resume();
  const got = await waitFor('every message after the pause', () => {
    const mine = slow.delivered().filter((m) => m.text.startsWith('pause '));
    return mine.length >= seqs.length ? mine : null;
  }, 30000);
  assert.deepEqual(got.map((m) => m.seq), seqs, 'each once, in order');
  assert.equal(slow.ws.closeInfo, null, 'the connection stayed open');
  await sender.close();
  await slow.close();
});

test('a client that stops reading is dropped past client_queue_size; the others are not', { skip }, async () => {
  const sender = await member(0);
  const reader = await member(2);
  const stuck = await member(1);
  stuck.ws.ws._socket.pause();
  const seqs = await sendMany(sender, 3000, 'stuck'); // about 12 MB: past the kernel's buffers and 4 MiB
  const all = await waitFor('the reader to get everything', () => {
    const mine = reader.delivered().filter((m) => m.text.startsWith('stuck '));
    return mine.length >= seqs.length ? mine : null;
  }, 60000);
  assert.deepEqual(all.map((m) => m.seq), seqs);
  stuck.ws.ws._socket.resume();
  const closed = await stuck.ws.closed;
  // 1008 (policy violation) when the close frame gets through; it may not, behind megabytes.
  assert.ok([1006, 1008].includes(closed.code), `closed: ${closed.code}`);
  assert.match(node.stderr(), /does not read its events fast enough/);
  // The server is fine: a new member joins and sends.
  const again = await member(1);
  assert.equal((await again.request({ request: 'send', event_id: ev.eventId, room: 'main', text: 'back' })).chat, 'sent');
  for (const s of [sender, reader, again]) await s.close();
});
