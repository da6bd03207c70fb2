// odeon.plugin.stage, first step: a plain RTP source (synthetic packets sent from this test
// over UDP) reaches several real WebRTC viewers (@roamhq/wrtc) that "watch" with Janus
// Streaming bodies: Odeon offers, each viewer answers with "start", packets flow to all of them
// (counted with getStats: the synthetic payload is not meant to decode), "switch" moves a
// viewer to another stage on the same connection, "stop" ends it, and bad requests get
// Streaming's error codes. Then a WebRTC host (a wrtc peer with synthetic camera and
// microphone) publishes to a stage and two viewers decode its video; when the host stops,
// the viewers hear "ended". An organiser "monitor"s a stage's viewer count, and the event bus
// (jsonlog) records each viewer joining and leaving.

import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ODEON_ONLY, freePorts, isJanus, makeTempDir, sleep, useServer } from './harness.mjs';
import { tx, wsAttach, wsConnect, wsCreateSession } from './client.mjs';
import { SyntheticMedia } from './wrtc_media.mjs';

const wrtc = (await import('@roamhq/wrtc')).default;
const STAGE = 'odeon.plugin.stage';

let ports = [];
let confDir;
if (!isJanus) {
  ports = await freePorts(4);
  confDir = makeTempDir('odeon-stage-');
  fs.writeFileSync(path.join(confDir, 'stage.conf'), [
    '[general]', 'admin_key = adm1n', '',
    '[stage-1]', 'description = Main stage', `audio_port = ${ports[0]}`, 'audio_pt = 111',
    'audio_codec = opus', `video_port = ${ports[1]}`, 'video_pt = 96', 'video_codec = VP8', '',
    '[stage-2]', 'description = Second stage', 'pin = 1234', `audio_port = ${ports[2]}`,
    'audio_pt = 111', 'audio_codec = opus', `video_port = ${ports[3]}`, 'video_pt = 96',
    'video_codec = VP8', '',
    '[stage-3]', 'description = Browser-hosted stage', 'secret = hostsecret', 'audio_port = 0',
    'audio_pt = 111', 'audio_codec = opus', 'video_port = 0', 'video_pt = 96', 'video_codec = VP8', '',
    '[stage-4]', 'description = VP9 stage', 'secret = vp9secret', 'audio_port = 0', 'audio_pt = 111',
    'audio_codec = opus', 'video_port = 0', 'video_pt = 98', 'video_codec = VP9', '',
  ].join('\n'));
  fs.writeFileSync(path.join(confDir, 'jsonlog.conf'), '[general]\nfile = events.jsonl\n');
}
const srv = useServer(isJanus ? {} : { plugins: ['echotest', 'stage'], pluginsConfigDir: confDir,
  extraConfig: '[events]\nhandlers = jsonlog\n' });

function busEvents() {
  const file = path.join(confDir, 'events.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((e) => e.type === 64 && e.event?.plugin === STAGE);
}

/** Sends RTP (Opus-shaped audio, VP8-shaped video with a keyframe every second) to a stage. */
class RtpSource {
  constructor(audioPort, videoPort, ssrcBase) {
    this.sock = dgram.createSocket('udp4');
    this.seq = [0, 0];
    this.n = 0;
    this.ssrc = [ssrcBase + 1, ssrcBase + 2];
    this.timer = setInterval(() => this.tick(audioPort, videoPort), 20);
  }

  packet(kind, pt, marker, ts, payload) {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = (marker ? 0x80 : 0) | pt;
    h.writeUInt16BE(this.seq[kind]++ & 0xffff, 2);
    h.writeUInt32BE(ts >>> 0, 4);
    h.writeUInt32BE(this.ssrc[kind], 8);
    return Buffer.concat([h, payload]);
  }

  tick(audioPort, videoPort) {
    this.n += 1;
    this.sock.send(this.packet(0, 111, false, this.n * 960, Buffer.from([0xf8, 0xff, 0xfe])), audioPort, '127.0.0.1');
    if (this.n % 2 === 0) {
      // VP8 descriptor: S=1, PID=0; payload header bit 0 = 0 for a keyframe (every 50th frame).
      const key = this.n % 50 === 0;
      const payload = Buffer.alloc(800, 0x55);
      payload[0] = 0x10;
      payload[1] = key ? 0x00 : 0x01;
      this.sock.send(this.packet(1, 96, true, this.n * 1800, payload), videoPort, '127.0.0.1');
    }
  }

  close() {
    clearInterval(this.timer);
    this.sock.close();
  }
}

const viewers = [];
const sources = [];
const hosts = [];
let ws;

after(async () => {
  for (const s of sources) s.close();
  for (const h of hosts) {
    h.media.stop();
    if (h.pc.connectionState !== 'closed') h.pc.close();
  }
  for (const v of viewers) for (const sink of v.sinks || []) sink.stop();
  for (const v of viewers) if (v.pc.connectionState !== 'closed') v.pc.close();
  if (ws) await ws.close();
  if (confDir) fs.rmSync(confDir, { recursive: true, force: true });
  process.on('exit', (code) => process.exit(code));
});

async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

async function inbound(pc, kind) {
  for (const s of (await pc.getStats()).values()) {
    if (s.type === 'inbound-rtp' && (s.kind === kind || s.mediaType === kind)) return s.packetsReceived || 0;
  }
  return 0;
}

/** Sends a message; returns the event answering it (after the ack) or the sync reply. */
async function message(hid, sid, body, jsep) {
  const t = tx('m');
  const req = { janus: 'message', session_id: sid, handle_id: hid, transaction: t, body };
  if (jsep) req.jsep = jsep;
  const first = await ws.request(req, 10000);
  if (first.janus !== 'ack') return first;
  return ws.nextForTransaction(t, 10000);
}

async function newViewer(sid, id, extra = {}) {
  const hid = await wsAttach(ws, sid, STAGE);
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  const v = { hid, pc, events: [], frames: 0, sinks: [] };
  viewers.push(v);
  pc.ontrack = (ev) => {
    if (ev.track.kind !== 'video') return;
    const sink = new wrtc.nonstandard.RTCVideoSink(ev.track);
    sink.onframe = () => { v.frames += 1; };
    v.sinks.push(sink);
  };
  const ev = await message(hid, sid, { request: 'watch', id, ...extra });
  assert.equal(ev.plugindata?.data?.result?.status, 'preparing', JSON.stringify(ev));
  assert.equal(ev.jsep?.type, 'offer');
  await pc.setRemoteDescription(ev.jsep);
  await pc.setLocalDescription(await pc.createAnswer());
  await until(() => pc.iceGatheringState === 'complete', 10000, 'viewer gathering');
  const started = await message(hid, sid, { request: 'start' },
    { type: 'answer', sdp: pc.localDescription.sdp });
  assert.equal(started.plugindata?.data?.result?.status, 'starting', JSON.stringify(started));
  return v;
}

test('three viewers watch one RTP stage; switch; stop; errors', { skip: ODEON_ONLY }, async () => {
  sources.push(new RtpSource(ports[0], ports[1], 1000), new RtpSource(ports[2], ports[3], 2000));
  ws = await wsConnect(srv.server);
  const sid = await wsCreateSession(ws);
  const events = [];
  ws.ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (!m.transaction) events.push(m);
  });

  const list = await message(await wsAttach(ws, sid, STAGE), sid, { request: 'list' });
  const ids = list.plugindata.data.list.map((s) => s.id).sort();
  assert.deepEqual(ids, [1, 2, 3, 4]);

  // Viewer counts: only an organiser (admin_key) or the stage's secret may monitor.
  const monitor = await wsAttach(ws, sid, STAGE);
  let m = await message(monitor, sid, { request: 'monitor', id: 1 });
  assert.equal(m.plugindata.data.error_code, 457, JSON.stringify(m));
  m = await message(monitor, sid, { request: 'monitor', id: 1, admin_key: 'adm1n' });
  assert.deepEqual(m.plugindata.data.result, { status: 'monitoring', id: 1, viewers: 0 });

  const vs = [];
  for (let i = 0; i < 3; i++) vs.push(await newViewer(sid, 1));
  await until(() => vs.every((v) => events.some((e) => e.janus === 'webrtcup' && e.sender === v.hid)),
    20000, 'webrtcup for every viewer');
  for (const v of vs) {
    await until(async () => (await inbound(v.pc, 'audio')) > 20 && (await inbound(v.pc, 'video')) > 10,
      15000, `media for viewer ${v.hid}`);
  }
  const info = await message(vs[0].hid, sid, { request: 'info', id: 1 });
  assert.equal(info.plugindata.data.info.viewers, 3, JSON.stringify(info));
  // The monitor hears the new count (changes are pushed at most once a second).
  await until(() => events.some((e) => e.sender === monitor &&
    e.plugindata?.data?.result?.event === 'viewers' && e.plugindata.data.result.viewers === 3),
  5000, 'viewer count 3 pushed to the monitor');
  // The bus got a "joined" per viewer, with its stage and a wall-clock timestamp.
  await until(() => busEvents().filter((e) => e.event.data.event === 'joined').length >= 3,
    5000, 'three "joined" bus events');
  const joined = busEvents().find((e) => e.event.data.event === 'joined');
  assert.equal(joined.event.data.stage, 1);
  assert.ok(Math.abs(joined.event.data.timestamp / 1000 - Date.now()) < 60000, JSON.stringify(joined));

  // Errors: no such stage, wrong pin, switch to a missing stage, create without admin_key.
  const lone = await wsAttach(ws, sid, STAGE);
  let e = await message(lone, sid, { request: 'watch', id: 99 });
  assert.equal(e.plugindata.data.error_code, 455, JSON.stringify(e));
  e = await message(lone, sid, { request: 'watch', id: 2, pin: 'nope' });
  assert.equal(e.plugindata.data.error_code, 457, JSON.stringify(e));
  e = await message(lone, sid, { request: 'create', type: 'rtp', media: [] });
  assert.equal(e.plugindata.data.error_code, 457, JSON.stringify(e));
  e = await message(vs[0].hid, sid, { request: 'switch', id: 99 });
  assert.equal(e.plugindata.data.error_code, 455, JSON.stringify(e));

  // Switch viewer 0 to stage 2 (same layout): media keeps coming on the same connection.
  e = await message(vs[0].hid, sid, { request: 'switch', id: 2 });
  assert.equal(e.plugindata.data.switched, 'ok', JSON.stringify(e));
  const before = await inbound(vs[0].pc, 'audio');
  await until(async () => (await inbound(vs[0].pc, 'audio')) > before + 20, 10000, 'audio after switch');

  // Stop viewer 1: its connection ends, the others go on.
  e = await message(vs[1].hid, sid, { request: 'stop' });
  assert.equal(e.plugindata.data.result.status, 'stopping', JSON.stringify(e));
  await until(() => events.some((m) => m.janus === 'hangup' && m.sender === vs[1].hid), 10000, 'hangup after stop');
  await until(() => busEvents().some((e) => e.handle_id === vs[1].hid && e.event.data.event === 'left' &&
    e.event.data.watched_ms > 0), 5000, 'a "left" bus event for the stopped viewer');
  const other = await inbound(vs[2].pc, 'audio');
  await until(async () => (await inbound(vs[2].pc, 'audio')) > other + 20, 10000, 'viewer 2 unaffected');

  // Create and destroy a stage by request (admin_key): its viewers are told it ended.
  const admin = await wsAttach(ws, sid, STAGE);
  e = await message(admin, sid, { request: 'create', admin_key: 'adm1n', type: 'rtp', id: 7,
    description: 'made by request', media: [{ type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'opus' }] });
  assert.equal(e.plugindata.data.streaming, 'created', JSON.stringify(e));
  e = await message(admin, sid, { request: 'destroy', id: 1, admin_key: 'adm1n' });
  assert.equal(e.plugindata.data.destroyed, 1, JSON.stringify(e));
  await until(() => events.some((m) => m.sender === vs[2].hid && m.plugindata?.data?.result?.reason === 'ended'),
    10000, '"ended" for the viewer of the destroyed stage');
});

test('a WebRTC host publishes; viewers decode its video; the host stops and they hear "ended"', { skip: ODEON_ONLY }, async () => {
  if (!ws) {
    ws = await wsConnect(srv.server);
  }
  const sid = await wsCreateSession(ws);
  const events = [];
  ws.ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (!m.transaction) events.push(m);
  });
  const hostHandle = await wsAttach(ws, sid, STAGE);
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  const media = new SyntheticMedia(wrtc);
  hosts.push({ pc, media });
  const stream = new wrtc.MediaStream([media.audioTrack, media.videoTrack]);
  pc.addTrack(media.audioTrack, stream);
  pc.addTrack(media.videoTrack, stream);
  media.start();
  await pc.setLocalDescription(await pc.createOffer());
  await until(() => pc.iceGatheringState === 'complete', 10000, 'host gathering');
  const offer = { type: 'offer', sdp: pc.localDescription.sdp };

  let e = await message(hostHandle, sid, { request: 'publish', id: 3, secret: 'wrong' }, offer);
  assert.equal(e.plugindata.data.error_code, 457, JSON.stringify(e));
  e = await message(hostHandle, sid, { request: 'publish', id: 3, secret: 'hostsecret' }, offer);
  assert.equal(e.plugindata.data.result?.status, 'publishing', JSON.stringify(e));
  assert.equal(e.jsep?.type, 'answer');
  await pc.setRemoteDescription(e.jsep);
  // A second host on a live stage is refused.
  const other = await wsAttach(ws, sid, STAGE);
  e = await message(other, sid, { request: 'publish', id: 3, secret: 'hostsecret' }, offer);
  assert.equal(e.plugindata.data.error_code, 460, JSON.stringify(e));

  const vs = [await newViewer(sid, 3), await newViewer(sid, 3)];
  for (const v of vs) {
    await until(() => v.frames > 60, 30000, `viewer ${v.hid} decoded ${v.frames} frames, expected more than 60`);
  }
  e = await message(hostHandle, sid, { request: 'unpublish' });
  assert.equal(e.plugindata.data.result?.status, 'unpublished', JSON.stringify(e));
  for (const v of vs) {
    await until(() => events.some((m) => m.sender === v.hid && m.plugindata?.data?.result?.status === 'ended'),
      10000, `"ended" for viewer ${v.hid}`);
  }
});

test('WHIP: an encoder POSTs its offer to /whip/<stage> with a bearer token; viewers decode; DELETE ends it', { skip: ODEON_ONLY }, async () => {
  const whip = `${srv.server.httpBase}/whip/3`;
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  const media = new SyntheticMedia(wrtc);
  hosts.push({ pc, media });
  const stream = new wrtc.MediaStream([media.audioTrack, media.videoTrack]);
  pc.addTransceiver(media.audioTrack, { direction: 'sendonly', streams: [stream] });
  pc.addTransceiver(media.videoTrack, { direction: 'sendonly', streams: [stream] });
  media.start();
  await pc.setLocalDescription(await pc.createOffer());
  await until(() => pc.iceGatheringState === 'complete', 10000, 'WHIP client gathering');
  const sdp = pc.localDescription.sdp;
  const post = (url, headers, body = sdp) => fetch(url, { method: 'POST', headers, body });
  const auth = { 'content-type': 'application/sdp', authorization: 'Bearer hostsecret' };

  let r = await post(whip, { 'content-type': 'application/sdp' });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') || '', /Bearer/);
  r = await post(whip, { ...auth, authorization: 'Bearer nope' });
  assert.equal(r.status, 401);
  r = await post(whip, { ...auth, 'content-type': 'text/plain' });
  assert.equal(r.status, 415);
  r = await post(`${srv.server.httpBase}/whip/99`, auth);
  assert.equal(r.status, 404);
  r = await fetch(whip, { method: 'GET' });
  assert.equal(r.status, 405);
  r = await post(whip, auth, 'v=0\r\nnot sdp');
  assert.equal(r.status, 400);

  r = await post(whip, auth);
  assert.equal(r.status, 201, await r.clone().text());
  assert.match(r.headers.get('content-type'), /application\/sdp/);
  const location = r.headers.get('location');
  assert.match(location, /^\/whip\/3\/\d+$/);
  const answer = await r.text();
  assert.match(answer, /a=candidate:/);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  // The stage is live now: a second encoder is refused.
  r = await post(whip, auth);
  assert.equal(r.status, 409);

  if (!ws) ws = await wsConnect(srv.server);
  const sid = await wsCreateSession(ws);
  const events = [];
  ws.ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (!m.transaction) events.push(m);
  });
  const v = await newViewer(sid, 3);
  await until(() => v.frames > 60, 30000, `the WHIP stream's viewer decoded ${v.frames} frames`);

  r = await fetch(`${srv.server.httpBase}${location}`, { method: 'DELETE', headers: { authorization: 'Bearer hostsecret' } });
  assert.equal(r.status, 200);
  await until(() => events.some((m) => m.sender === v.hid && m.plugindata?.data?.result?.status === 'ended'),
    10000, '"ended" after the WHIP DELETE');
  r = await fetch(`${srv.server.httpBase}${location}`, { method: 'DELETE', headers: { authorization: 'Bearer hostsecret' } });
  assert.equal(r.status, 404);
});

test('WHEP: a player POSTs a recvonly offer (video first) to /whep/<stage>; media arrives; DELETE ends it', { skip: ODEON_ONLY }, async () => {
  const whep = `${srv.server.httpBase}/whep/2`;
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  viewers.push({ pc, sinks: [] });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await until(() => pc.iceGatheringState === 'complete', 10000, 'WHEP player gathering');
  const headers = { 'content-type': 'application/sdp', authorization: 'Bearer 1234' };
  let r = await fetch(whep, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: pc.localDescription.sdp });
  assert.equal(r.status, 401, 'stage 2 has a PIN: WHEP needs it as the bearer token');
  r = await fetch(whep, { method: 'POST', headers, body: pc.localDescription.sdp });
  assert.equal(r.status, 201, await r.clone().text());
  const location = r.headers.get('location');
  assert.match(location, /^\/whep\/2\/\d+$/);
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  await until(async () => (await inbound(pc, 'audio')) > 20 && (await inbound(pc, 'video')) > 10, 15000,
    'media for the WHEP player');
  r = await fetch(`${srv.server.httpBase}${location}`, { method: 'DELETE', headers });
  assert.equal(r.status, 200);
  const settled = await inbound(pc, 'audio');
  await sleep(1500);
  assert.ok((await inbound(pc, 'audio')) <= settled + 5, 'media still flows after the WHEP DELETE');
});

test('a VP9 stage (no GOP cache): a joining viewer gets a keyframe from the host and decodes', { skip: ODEON_ONLY }, async () => {
  if (!ws) ws = await wsConnect(srv.server);
  const sid = await wsCreateSession(ws);
  const hostHandle = await wsAttach(ws, sid, STAGE);
  const pc = new wrtc.RTCPeerConnection({ iceServers: [] });
  const media = new SyntheticMedia(wrtc);
  hosts.push({ pc, media });
  const stream = new wrtc.MediaStream([media.audioTrack, media.videoTrack]);
  pc.addTrack(media.audioTrack, stream);
  pc.addTrack(media.videoTrack, stream);
  media.start();
  await pc.setLocalDescription(await pc.createOffer());
  await until(() => pc.iceGatheringState === 'complete', 10000, 'host gathering');
  const e = await message(hostHandle, sid, { request: 'publish', id: 4, secret: 'vp9secret' },
    { type: 'offer', sdp: pc.localDescription.sdp });
  assert.equal(e.plugindata.data.result?.status, 'publishing', JSON.stringify(e));
  assert.match(e.jsep.sdp, /a=rtpmap:\d+ VP9\/90000/);
  await pc.setRemoteDescription(e.jsep);
  await sleep(3000); // the host is well into its stream when the viewer joins
  const v = await newViewer(sid, 4);
  await until(() => v.frames > 60, 30000, `the VP9 viewer decoded ${v.frames} frames`);
});
