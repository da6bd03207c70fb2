// stage.js - the stage page: a host publishes camera and microphone to odeon.plugin.stage, or a
// viewer watches a stage (Odeon offers, the page answers).
//
// Query parameters: id=<stage> (default 1), role=host|viewer (default viewer), secret=<host
// secret>, transport=ws|http (default ws), server=<API URL>, autostart=1; for a host
// simulcast=1 (three layers, quarter, half and full size) or svc=<scalability mode> (VP9, e.g.
// L3T3_KEY), width and height of the camera (default 640x480); for a viewer substream=0..2 (the
// layer it prefers: 0 the smallest).
// window.stagePage exposes the state, an event log and stats() (the e2e tests poll them).
'use strict';

(function main() {
  const params = new URLSearchParams(location.search);
  const transport = params.get('transport') === 'http' ? 'http' : 'ws';
  const serverUrl = params.get('server') || Odeon.defaultUrl('/janus', transport);
  const $ = (id) => document.getElementById(id);
  if (params.get('id')) $('stage-id').value = params.get('id');
  if (params.get('role')) $('role').value = params.get('role') === 'host' ? 'host' : 'viewer';
  if (params.get('secret')) $('secret').value = params.get('secret');
  const startButton = $('start');

  const page = { state: 'idle', events: [], session: null, handle: null, stats };
  window.stagePage = page;

  function log(text, kind = 'ok') {
    page.events.push(text);
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    $('log').prepend(li);
  }

  function setState(state, text) {
    page.state = state;
    $('status').dataset.state = state;
    $('status').textContent = text || state;
  }

  function fail(text) {
    log(text, 'error');
    setState('error', text);
    startButton.disabled = false;
  }

  function watchEvents(handle, role) {
    handle.on('webrtcup', () => log('webrtcup'));
    handle.on('hangup', (msg) => log(`hangup: ${msg.reason || ''}`, 'error'));
    handle.on('track', (track, streams, on) => {
      if (on && role === 'viewer') $('video').srcObject = handle.remoteStream;
    });
    handle.on('localstream', (stream) => { if (role === 'host') $('video').srcObject = stream; });
    handle.on('event', (data) => {
      if (data.error) {
        fail(`${data.error_code}: ${data.error}`);
        return;
      }
      const status = data.result && data.result.status;
      if (!status) return;
      log(`status ${status}${data.result.reason ? ` (${data.result.reason})` : ''}`);
      if (status === 'ended' || status === 'stopped') setState('ended', 'The stage ended');
      else if (status === 'started') {
        setState('watching', 'Watching');
        if (role === 'viewer' && params.get('substream') !== null) {
          handle.request({ request: 'configure', substream: Number(params.get('substream')) })
            .then((r) => log(`configure: ${JSON.stringify(r)}`))
            .catch((e) => log(`configure failed: ${e.message}`, 'error'));
        }
      }
    });
  }

  function hostEncodings() {
    if (params.get('simulcast') === '1') {
      return [{ rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
        { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
        { rid: 'f', maxBitrate: 1500000 }];
    }
    if (params.get('svc')) return [{ scalabilityMode: params.get('svc') }];
    return undefined;
  }

  async function start() {
    startButton.disabled = true;
    const id = Number($('stage-id').value);
    const role = $('role').value;
    setState('connecting', `Connecting to ${serverUrl} (${transport})`);
    try {
      const info = await Odeon.connect(serverUrl, { transport });
      page.session = info;
      const handle = await page.session.attach('odeon.plugin.stage');
      page.handle = handle;
      watchEvents(handle, role);
      const server = await page.session.info().catch(() => null);
      const iceServers = server && Array.isArray(server.ice_servers) && server.ice_servers.length
        ? server.ice_servers : undefined;
      if (role === 'host') {
        const data = await handle.call({
          body: { request: 'publish', id, secret: $('secret').value }, audio: true,
          video: { width: Number(params.get('width')) || 640, height: Number(params.get('height')) || 480 },
          sendEncodings: hostEncodings(), iceServers,
        });
        log(`publish: ${JSON.stringify(data)}`);
        setState('publishing', `Publishing to stage ${id}`);
      } else {
        handle.on('offer', (jsep) => {
          handle.answer(jsep, { body: { request: 'start' }, audio: false, video: false, iceServers })
            .then(() => setState('starting', 'Starting'))
            .catch((e) => fail(`answer failed: ${e.message}`));
        });
        const data = await handle.request({ request: 'watch', id });
        if (data && data.error) throw new Error(`${data.error_code}: ${data.error}`);
        setState('preparing', `Watching stage ${id}`);
      }
      startButton.textContent = 'Stop';
      startButton.disabled = false;
    } catch (e) {
      fail(`Start failed: ${e.message}`);
    }
  }

  async function stop() {
    const { session, handle } = page;
    page.session = page.handle = null;
    const role = $('role').value;
    try {
      if (handle) await handle.request({ request: role === 'host' ? 'unpublish' : 'stop' });
      if (handle) await handle.detach();
      if (session) await session.destroy();
    } catch (e) {
      log(`stop: ${e.message}`, 'error');
    }
    setState('stopped', 'Stopped');
    startButton.textContent = 'Start';
    $('video').srcObject = null;
  }

  async function stats() {
    const result = { state: page.state, framesDecoded: 0, packetsReceived: 0, framesSent: 0,
                     frameWidth: 0, frameHeight: 0 };
    const pc = page.handle && page.handle.pc;
    if (!pc) return result;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        result.framesDecoded = s.framesDecoded || 0;
        result.packetsReceived = s.packetsReceived || 0;
        result.frameWidth = s.frameWidth || 0;
        result.frameHeight = s.frameHeight || 0;
      } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
        result.framesSent = s.framesSent || 0;
      }
    });
    return result;
  }

  startButton.addEventListener('click', () => (page.session ? stop() : start()));
  if (params.get('autostart') === '1') start();
})();
