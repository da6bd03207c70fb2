// A third-party Janus client against odeon.plugin.room: Janode (Meetecho's Node.js Janus
// client, npm "janode") with its VideoRoom plugin module, only the plugin's package name
// swapped, and real WebRTC peers (@roamhq/wrtc). Three members join a room from room.conf,
// publish, subscribe to each other and decode video; Janode's events (publisher list,
// talking, leaving) and requests (listParticipants, exists, list, configure, switch, update,
// unpublish, leave) all understand the plugin's answers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ODEON_ONLY, isJanus, makeTempDir, sleep, startServer } from './harness.mjs';
import { waitFor } from './event_client.mjs';
import { SyntheticMedia } from './wrtc_media.mjs';

const skip = isJanus ? ODEON_ONLY : false;
const Janode = skip ? null : (await import('janode')).default;
if (Janode) Janode.Logger.setLevel('warn'); // its connection chatter would drown the test output
const VideoRoomPlugin = skip ? null : (await import('janode/plugins/videoroom')).default;
const wrtc = skip ? null : (await import('@roamhq/wrtc')).default;

// Janode's VideoRoom module with Odeon's package name: nothing else changes.
const ROOM_PLUGIN = skip ? null : { ...VideoRoomPlugin, id: 'odeon.plugin.room' };
const { EVENT } = VideoRoomPlugin || { EVENT: {} };

let server;
let confDir;
const cleanups = [];

before(async () => {
  if (skip) return;
  confDir = makeTempDir('odeon-room-janode-');
  fs.writeFileSync(path.join(confDir, 'room.conf'), '[general]\nbitrate = 0\n\n[room-5]\ndescription = Janode room\npublishers = 4\n');
  server = await startServer({ plugins: ['room'], pluginsConfigDir: confDir,
    extraConfig: '[general]\ntoken_auth = true\n[auth]\nstatic_tokens = ana:tok-ana, bo:tok-bo, cy:tok-cy\n' });
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  if (server) await server.stop();
  if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  process.on('exit', (code) => process.exit(code));
});

/** A member through Janode: a connection with its token, a session, two VideoRoom handles. */
async function member(token, display) {
  const connection = await Janode.connect({ is_admin: false, address: { url: server.wsUrl, token } });
  const session = await connection.create();
  const pub = await session.attach(ROOM_PLUGIN);
  const sub = await session.attach(ROOM_PLUGIN);
  const m = { connection, session, pub, sub, display, events: [], frames: 0 };
  for (const [name, value] of Object.entries(EVENT)) {
    pub.on(value, (data) => m.events.push({ name, data }));
  }
  cleanups.push(async () => {
    m.media?.stop();
    m.sink?.stop();
    m.pc?.close();
    m.rpc?.close();
    await connection.close().catch(() => {});
  });
  return m;
}

async function publish(m) {
  const joined = await m.pub.joinPublisher({ room: 5, display: m.display });
  m.feed = joined.feed;
  m.pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  m.media = new SyntheticMedia(wrtc);
  const stream = new wrtc.MediaStream([m.media.audioTrack, m.media.videoTrack]);
  m.pc.addTransceiver(m.media.audioTrack, { direction: 'sendonly', streams: [stream] });
  m.pc.addTransceiver(m.media.videoTrack, { direction: 'sendonly', streams: [stream] });
  m.media.start();
  await m.pc.setLocalDescription(await m.pc.createOffer());
  await waitFor('gathering', () => m.pc.iceGatheringState === 'complete');
  const configured = await m.pub.publish({ jsep: { type: 'offer', sdp: m.pc.localDescription.sdp } });
  assert.equal(configured.configured, 'ok', JSON.stringify(configured));
  await m.pc.setRemoteDescription(configured.jsep);
  return joined;
}

async function subscribe(m, feed) {
  m.rpc = new wrtc.RTCPeerConnection({ iceServers: [] });
  m.rpc.ontrack = (e) => {
    if (e.track.kind !== 'video') return;
    m.sink = new wrtc.nonstandard.RTCVideoSink(e.track);
    m.sink.onframe = () => { m.frames += 1; };
  };
  const attached = await m.sub.joinSubscriber({ room: 5, streams: [{ feed }] });
  assert.equal(attached.jsep?.type, 'offer', JSON.stringify(attached));
  assert.equal(attached.streams.filter((s) => s.feed_id === feed).length, 2);
  await m.rpc.setRemoteDescription(attached.jsep);
  await m.rpc.setLocalDescription(await m.rpc.createAnswer());
  await waitFor('subscriber gathering', () => m.rpc.iceGatheringState === 'complete');
  const started = await m.sub.start({ jsep: { type: 'answer', sdp: m.rpc.localDescription.sdp } });
  assert.equal(started.started, 'ok', JSON.stringify(started));
}

test('Janode\'s VideoRoom module works against odeon.plugin.room with the name swapped', { skip }, async () => {
  const ana = await member('tok-ana', 'Ana');
  const bo = await member('tok-bo', 'Bo');
  await publish(ana);
  const joinedBo = await publish(bo);
  assert.deepEqual(joinedBo.publishers.map((p) => p.feed), [ana.feed]);
  assert.equal(joinedBo.publishers[0].display, 'Ana');
  await waitFor('Ana hears Bo join', () => ana.events.find((e) => e.name === 'VIDEOROOM_PUB_PEER_JOINED' && e.data.feed === bo.feed));
  await waitFor('Ana gets the publisher list', () => ana.events.find((e) => e.name === 'VIDEOROOM_PUB_LIST' && e.data.publishers.some((p) => p.feed === bo.feed)));

  await subscribe(ana, bo.feed);
  await subscribe(bo, ana.feed);
  await waitFor('Ana decodes Bo', () => ana.frames > 30, 30000);
  await waitFor('Bo decodes Ana', () => bo.frames > 30, 30000);
  await waitFor('a talking event', () => bo.events.find((e) => e.name === 'VIDEOROOM_TALKING' && e.data.feed === ana.feed), 15000);

  // Janode's switch (multistream and Janus 0.x's) and update. Cy publishes; Ana's video m-line
  // switches to Cy's video and Bo's camera stops: what Ana still decodes is Cy's.
  const cy = await member('tok-cy', 'Cy');
  await publish(cy);
  const switched = await ana.sub.switch({ streams: [{ feed: cy.feed, mid: '1', sub_mid: '1' }] });
  assert.equal(switched.switched, 'ok', JSON.stringify(switched));
  assert.equal(switched.streams.find((x) => x.mid === '1').feed_id, cy.feed, JSON.stringify(switched));
  bo.media.stop();
  const fromCy = ana.frames;
  await waitFor('Ana decodes Cy on the switched m-line', () => ana.frames > fromCy + 30, 20000);
  const back = await ana.sub.switch({ to_feed: bo.feed });
  assert.equal(back.switched, 'ok', JSON.stringify(back));
  assert.ok(back.streams.every((x) => x.feed_id === bo.feed), JSON.stringify(back));
  const updated = await ana.sub.update({ unsubscribe: [{ feed: bo.feed }], subscribe: [{ feed: cy.feed }] });
  assert.equal(updated.jsep?.type, 'offer', JSON.stringify(updated));
  assert.deepEqual([...new Set(updated.streams.filter((x) => x.active).map((x) => x.feed_id))], [cy.feed]);
  await ana.rpc.setRemoteDescription(updated.jsep);
  await ana.rpc.setLocalDescription(await ana.rpc.createAnswer());
  const restarted = await ana.sub.start({ jsep: { type: 'answer', sdp: ana.rpc.localDescription.sdp } });
  assert.equal(restarted.started, 'ok', JSON.stringify(restarted));
  const afterUpdate = ana.frames;
  await waitFor('Ana decodes Cy after the update', () => ana.frames > afterUpdate + 30, 20000);

  const list = await ana.pub.listParticipants({ room: 5 });
  assert.deepEqual(list.participants.map((p) => p.feed).sort(), [ana.feed, bo.feed, cy.feed].sort());
  const exists = await ana.pub.exists({ room: 5 });
  assert.equal(exists.exists, true);
  const rooms = await ana.pub.list();
  assert.ok(rooms.list.some((r) => r.room === 5), JSON.stringify(rooms));
  const configured = await ana.pub.configure({ audio: false });
  assert.equal(configured.configured, 'ok');

  // An error reaches Janode as an Error carrying VideoRoom's code.
  await assert.rejects(bo.pub.joinPublisher({ room: 5, display: 'again' }), (e) => e._code === 425);

  await bo.pub.unpublish();
  await waitFor('Ana hears Bo unpublish', () => ana.events.find((e) => e.name === 'VIDEOROOM_UNPUBLISHED' && e.data.feed === bo.feed));
  await bo.pub.leave();
  await waitFor('Ana hears Bo leave', () => ana.events.find((e) => e.name === 'VIDEOROOM_LEAVING' && e.data.feed === bo.feed));
  await sleep(10);
});
