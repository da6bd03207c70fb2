// echotest.js - the echo test page: camera and microphone to the echotest plugin and back.
//
// Query parameters: transport=ws|http (default ws), server=<API URL> (default: this page's
// host, /janus), plugin=<package> (default odeon.plugin.echotest), autostart=1.
// window.echoTest exposes the state, an event log and stats() (the e2e tests poll them).
'use strict';

(function main() {
  const params = new URLSearchParams(location.search);
  const transport = params.get('transport') === 'http' ? 'http' : 'ws';
  const serverUrl = params.get('server') || Odeon.defaultUrl('/janus', transport);
  const plugin = params.get('plugin') || 'odeon.plugin.echotest';

  const $ = (id) => document.getElementById(id);
  const status = $('status');
  const startButton = $('start');
  const controls = ['audio', 'video', 'bitrate', 'keyframe'].map($);
  const logList = $('log');

  const page = {
    state: 'idle',
    events: [],
    transport,
    server: serverUrl,
    plugin,
    session: null,
    handle: null,
    stats,
  };
  window.echoTest = page;

  function log(text, kind = 'ok') {
    page.events.push(text);
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    logList.prepend(li);
  }

  function setState(state, text) {
    page.state = state;
    status.dataset.state = state;
    status.textContent = text || state;
  }

  function setRunning(running) {
    startButton.textContent = running ? 'Stop' : 'Start';
    for (const el of controls) el.disabled = !running;
  }

  async function start() {
    setRunning(true);
    startButton.disabled = true;
    setState('connecting', `Connecting to ${serverUrl} (${transport})`);
    try {
      page.session = await Odeon.connect(serverUrl, { transport });
      page.session.on('closed', () => {
        if (page.state !== 'stopped') fail('Disconnected from the server');
      });
      page.session.on('timeout', () => fail('The session timed out'));
      const handle = await page.session.attach(plugin);
      page.handle = handle;
      log(`attached ${plugin}, handle ${handle.id} (session ${page.session.id}, ${transport})`);
      watch(handle);
      setState('negotiating', 'Negotiating');
      const audio = $('audio').checked;
      const video = $('video').checked;
      // STUN/TURN servers the operator configured ([media] ice_servers), when the server
      // lists them in "info" (Janus does not).
      const info = await page.session.info().catch(() => null);
      const iceServers = info && Array.isArray(info.ice_servers) && info.ice_servers.length
        ? info.ice_servers : undefined;
      const data = await handle.call({ body: { audio: true, video: true }, audio: true,
                                       video: { width: 640, height: 480 }, iceServers });
      log(`answer applied: ${JSON.stringify(data)}`);
      if (page.state === 'negotiating') setState('connected', 'Answer received, waiting for media');
      if (!audio) await configure({ audio: false });
      if (!video) await configure({ video: false });
      startButton.disabled = false;
    } catch (e) {
      fail(`Start failed: ${e.message}`);
    }
  }

  function watch(handle) {
    handle.on('localstream', (stream) => { $('local').srcObject = stream; });
    handle.on('track', (track, streams, on) => {
      log(`remote ${track.kind} track ${on ? 'added' : 'removed'}`);
      if (on) $('remote').srcObject = handle.remoteStream;
    });
    handle.on('webrtcup', () => {
      log('webrtcup');
      setState('webrtcup', 'WebRTC is up: media flowing');
    });
    handle.on('media', (msg) => {
      log(`media ${msg.type}${msg.mid !== undefined ? ` (mid ${msg.mid})` : ''} ` +
          `receiving=${msg.receiving}`, msg.receiving ? 'ok' : 'error');
    });
    handle.on('slowlink', (msg) => {
      log(`slowlink ${msg.media || msg.mid || ''} ${msg.uplink ? 'uplink' : 'downlink'}` +
          ` lost=${msg.lost}`, 'error');
    });
    handle.on('hangup', (msg) => {
      log(`hangup: ${msg.reason || 'no reason'}`, 'error');
      if (page.state !== 'stopped') setState('hangup', `Hung up by the server: ${msg.reason}`);
    });
    handle.on('pcstate', (state) => log(`peer connection ${state}`,
                                        state === 'failed' ? 'error' : 'ok'));
    handle.on('event', (data) => {
      if (data.error) log(`plugin error: ${data.error}`, 'error');
      else if (data.result && data.result !== 'ok') log(`event ${JSON.stringify(data)}`);
    });
  }

  async function stop() {
    setState('stopped', 'Stopped');
    setRunning(false);
    const { session, handle } = page;
    page.session = page.handle = null;
    try {
      if (handle) await handle.hangup();
      if (handle) await handle.detach();
      if (session) await session.destroy();
      log('stopped');
    } catch (e) {
      log(`stop: ${e.message}`, 'error');
    }
    $('local').srcObject = null;
    $('remote').srcObject = null;
  }

  function fail(text) {
    log(text, 'error');
    setState('error', text);
    startButton.disabled = false;
  }

  async function configure(body) {
    if (!page.handle) return;
    try {
      const data = await page.handle.request(body);
      log(`${JSON.stringify(body)} -> ${JSON.stringify(data)}`, data.error ? 'error' : 'ok');
    } catch (e) {
      log(`${JSON.stringify(body)} failed: ${e.message}`, 'error');
    }
  }

  // Inbound RTP counters of the echoed media (the test polls them).
  async function stats() {
    const result = { state: page.state, video: null, audio: null };
    const pc = page.handle && page.handle.pc;
    if (!pc) return result;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') {
        result.video = { framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived,
                         bytesReceived: s.bytesReceived, frameWidth: s.frameWidth,
                         frameHeight: s.frameHeight };
      } else if (s.kind === 'audio') {
        result.audio = { packetsReceived: s.packetsReceived || 0, bytesReceived: s.bytesReceived,
                         totalSamplesReceived: s.totalSamplesReceived, audioLevel: s.audioLevel };
      }
    });
    result.connectionState = pc.connectionState;
    // The candidate pair in use, "address:port type -> address:port type" (for debugging).
    report.forEach((s) => {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
      const pair = report.get(s.selectedCandidatePairId);
      const end = (id) => {
        const c = report.get(id);
        return c ? `${c.address}:${c.port} ${c.candidateType}` : '?';
      };
      if (pair) result.candidatePair = `${end(pair.localCandidateId)} -> ${end(pair.remoteCandidateId)}`;
    });
    return result;
  }

  startButton.addEventListener('click', () => (page.session ? stop() : start()));
  $('audio').addEventListener('change', (ev) => configure({ audio: ev.target.checked }));
  $('video').addEventListener('change', (ev) => configure({ video: ev.target.checked }));
  $('bitrate').addEventListener('change', (ev) => configure({ bitrate: Number(ev.target.value) }));
  $('keyframe').addEventListener('click', () => configure({ keyframe: true }));

  setState('idle', `Idle: ${plugin} at ${serverUrl} (${transport})`);
  if (params.get('autostart') === '1') start();
})();
