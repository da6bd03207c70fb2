// odeon.js - the Odeon browser client: Janus API sessions, plugin handles and WebRTC.
//
// Speaks the Janus JSON API, so it works against Odeon and Janus alike, over either transport:
// WebSocket ("janus-protocol" subprotocol) for ws:// and wss:// URLs, HTTP long-poll for
// http:// and https:// URLs. A Session keeps itself alive with keepalives, matches replies to
// requests by transaction, and routes asynchronous events to the handle they name. A Handle
// can carry one RTCPeerConnection: call() offers local media to the plugin, answer() answers
// an offer the plugin sent; candidates trickle both ways.
//
//   const session = await Odeon.connect('ws://host:8088/janus', { token });   // or http://
//   const echo = await session.attach('odeon.plugin.echotest');
//   const reply = await echo.request({ request: 'ping' });      // sync: plugindata.data
//   echo.on('event', (data, jsep, msg) => ...);                 // every plugin event
//   echo.on('track', (track, streams, on) => ...);              // remote media
//   echo.on('webrtcup' | 'media' | 'slowlink' | 'hangup', (msg) => ...);
//   await echo.call({ body: { audio: true, video: true } });    // getUserMedia + offer
//   echo.on('offer', (jsep, data) => echo.answer(jsep, { body: { request: 'start' } }));
//   await echo.hangup(); await echo.detach(); await session.destroy();

(function (global) {
  'use strict';

  function randomTransaction() {
    const bytes = new Uint8Array(9);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  class OdeonError extends Error {
    constructor(code, reason) {
      super(`${code}: ${reason}`);
      this.code = code;
      this.reason = reason;
    }
  }

  class Emitter {
    constructor() { this.listeners = new Map(); }
    on(name, fn) {
      if (!this.listeners.has(name)) this.listeners.set(name, new Set());
      this.listeners.get(name).add(fn);
      return () => this.listeners.get(name).delete(fn);
    }
    listening(name) { return (this.listeners.get(name) || new Set()).size > 0; }
    emit(name, ...args) {
      for (const fn of this.listeners.get(name) || []) {
        try { fn(...args); } catch (e) { console.error(e); }
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Transports. Both expose open(), send(msg) -> Promise (settles once the message left, or,
  // over HTTP, once its synchronous reply arrived), startEvents(sessionId), stopEvents(),
  // close(), and call onmessage(object) for every reply and event and onclose() once.

  class WsTransport {
    constructor(url) {
      this.url = url;
      this.onmessage = () => {};
      this.onclose = () => {};
    }

    open() {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(this.url, 'janus-protocol');
        this.ws = ws;
        let opened = false;
        ws.addEventListener('error', () => {
          if (!opened) reject(new OdeonError(0, `cannot connect to ${this.url}`));
        });
        ws.addEventListener('open', () => { opened = true; resolve(); });
        ws.addEventListener('message', (ev) => {
          let msg;
          try { msg = JSON.parse(ev.data); } catch (e) { return; }
          this.onmessage(msg);
        });
        ws.addEventListener('close', () => { if (opened) this.onclose(); });
      });
    }

    send(msg) {
      if (this.ws.readyState !== WebSocket.OPEN) {
        return Promise.reject(new OdeonError(0, 'connection closed'));
      }
      this.ws.send(JSON.stringify(msg));
      return Promise.resolve();
    }

    startEvents() {}

    stopEvents() {}

    close() { this.ws.close(); }
  }

  // Requests go as POSTs to the base path, the session path or the handle path; their replies
  // come back in the POST's response. Events come from a GET long-poll on the session path,
  // reissued as soon as it answers. text/plain bodies keep cross-origin POSTs "simple" (no
  // CORS preflight).
  class HttpTransport {
    constructor(url, options) {
      this.url = url.replace(/\/+$/, '');
      this.options = options;
      this.onmessage = () => {};
      this.onclose = () => {};
      this.closed = false;
      this.polling = false;
      this.poller = null;
    }

    open() { return Promise.resolve(); }

    async send(msg) {
      if (this.closed) throw new OdeonError(0, 'connection closed');
      let path = this.url;
      if (msg.session_id !== undefined) path += `/${msg.session_id}`;
      if (msg.handle_id !== undefined) path += `/${msg.handle_id}`;
      const body = Object.assign({}, msg);
      delete body.session_id;
      delete body.handle_id;
      let reply;
      try {
        const res = await fetch(path, { method: 'POST', body: JSON.stringify(body),
                                        headers: { 'Content-Type': 'text/plain' } });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        reply = await res.json();
      } catch (e) {
        throw new OdeonError(0, `${path}: ${e.message}`);
      }
      this.onmessage(reply);
    }

    startEvents(sessionId) {
      if (this.poller) return;
      this.poller = new AbortController();
      this.poll(sessionId, this.poller.signal);
    }

    // Before a destroy: a long-poll reissued after it would only meet "no such session".
    stopEvents() {
      this.polling = false;
      if (this.poller) this.poller.abort();
    }

    async poll(sessionId, signal) {
      const query = new URLSearchParams({ maxev: '10', rid: String(Date.now()) });
      if (this.options.token) query.set('token', this.options.token);
      if (this.options.apisecret) query.set('apisecret', this.options.apisecret);
      let failures = 0;
      this.polling = true;
      while (!this.closed && this.polling) {
        query.set('rid', String(Date.now()));
        let events;
        try {
          const res = await fetch(`${this.url}/${sessionId}?${query}`, { signal, cache: 'no-store' });
          // 404: the session is unknown (its body is the 458 error handled below).
          if (!res.ok && res.status !== 404) throw new Error(`HTTP ${res.status}`);
          events = await res.json();
          failures = 0;
        } catch (e) {
          if (this.closed || !this.polling) return;
          if (++failures >= 3) { this.shutdown(); return; }
          await new Promise((resolve) => setTimeout(resolve, 1000 * failures));
          continue;
        }
        if (!this.polling) return;
        for (const ev of Array.isArray(events) ? events : [events]) {
          if (!ev || ev.janus === 'keepalive') continue;
          // The session is gone (expired, destroyed elsewhere): nothing more will come.
          if (ev.janus === 'error' && ev.error && ev.error.code === 458) {
            this.shutdown();
            return;
          }
          this.onmessage(ev);
        }
      }
    }

    shutdown() {
      if (this.closed) return;
      this.closed = true;
      if (this.poller) this.poller.abort();
      this.onclose();
    }

    close() { this.shutdown(); }
  }

  // ---------------------------------------------------------------------------------------
  // Handles and their peer connection.

  function plainCandidate(c) {
    return { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
  }

  class Handle extends Emitter {
    constructor(session, id, plugin) {
      super();
      this.session = session;
      this.id = id;
      this.plugin = plugin;
      this.pc = null;
      this.localStream = null;
      this.ownsLocalStream = false;
      this.remoteStream = null;
      this.remoteQueue = [];     // remote candidates received before the remote description
      this.localQueue = null;    // local candidates held until the server has our jsep
      this.jsepDone = Promise.resolve();
    }

    // Resolves with plugindata.data for a synchronous reply, or with the data of the event
    // that carries the same transaction after an "ack" ({ data, jsep } when it has a jsep).
    // onAck (optional) runs when the server acknowledged the request.
    request(body, jsep, onAck) {
      const msg = { janus: 'message', body, handle_id: this.id };
      if (jsep) msg.jsep = jsep;
      return this.session.send(msg, { waitEvent: true, onAck }).then((reply) => {
        const data = reply.plugindata ? reply.plugindata.data : {};
        return reply.jsep ? { data, jsep: reply.jsep } : data;
      });
    }

    trickle(candidate) {
      return this.session.send({ janus: 'trickle', handle_id: this.id,
                                 candidate: candidate || { completed: true } });
    }

    // Offers local media to the plugin with `body`, and applies the answer the plugin sends
    // back. Media: `stream` (a MediaStream) or `tracks` (MediaStreamTracks), else getUserMedia
    // with `audio`/`video` (constraints or booleans). `recvAudio`/`recvVideo` add receive-only
    // transceivers when no such local track is sent. `sendEncodings` (RTCRtpEncodingParameters)
    // go with the video track: several with a `rid` each for simulcast, or one with a
    // `scalabilityMode` (e.g. 'L3T3_KEY') for VP9 SVC. Resolves with the data of the plugin's
    // answering event.
    async call(options = {}) {
      const { body = {}, iceServers } = options;
      this.closePeer();
      const pc = this.createPeer(iceServers);
      try {
        const stream = await this.localMedia(options);
        for (const track of stream.getTracks()) {
          if (track.kind === 'video' && options.sendEncodings) {
            pc.addTransceiver(track, { direction: 'sendonly', streams: [stream],
                                       sendEncodings: options.sendEncodings });
          } else {
            pc.addTrack(track, stream);
          }
        }
        for (const kind of ['audio', 'video']) {
          const want = options[kind === 'audio' ? 'recvAudio' : 'recvVideo'];
          if (want && !stream.getTracks().some((t) => t.kind === kind)) {
            pc.addTransceiver(kind, { direction: 'recvonly' });
          }
        }
        const offer = await pc.createOffer();
        this.localQueue = [];
        await pc.setLocalDescription(offer);
        const reply = await this.request(body, { type: offer.type, sdp: offer.sdp },
                                         () => this.flushLocalCandidates());
        this.flushLocalCandidates();
        await this.jsepDone;
        const data = reply.data !== undefined && reply.jsep ? reply.data : reply;
        if (data && data.error) throw new OdeonError(data.error_code || 0, data.error);
        if (!reply.jsep && pc.signalingState === 'have-local-offer') {
          throw new OdeonError(0, 'the plugin answered without a jsep');
        }
        return data;
      } catch (e) {
        if (this.pc === pc) this.closePeer();
        throw e;
      }
    }

    // Answers an offer the plugin sent (the receiving direction: a viewer). `body` goes with
    // the answer; local media is optional (`stream`, `tracks`, or `audio`/`video` to capture).
    async answer(jsep, options = {}) {
      const { body = {}, iceServers } = options;
      const pc = this.pc || this.createPeer(iceServers);
      const stream = options.stream || options.tracks || options.audio || options.video
        ? await this.localMedia(options) : null;
      if (stream) for (const track of stream.getTracks()) pc.addTrack(track, stream);
      await this.applyRemoteDescription(jsep);
      const answer = await pc.createAnswer();
      this.localQueue = [];
      await pc.setLocalDescription(answer);
      const reply = await this.request(body, { type: answer.type, sdp: answer.sdp },
                                       () => this.flushLocalCandidates());
      this.flushLocalCandidates();
      return reply;
    }

    async localMedia({ stream, tracks, audio = true, video = true }) {
      if (stream) { this.localStream = stream; this.ownsLocalStream = false; }
      else if (tracks) { this.localStream = new MediaStream(tracks); this.ownsLocalStream = false; }
      else if (audio || video) {
        this.localStream = await navigator.mediaDevices.getUserMedia({ audio, video });
        this.ownsLocalStream = true;
      } else {
        this.localStream = new MediaStream();
        this.ownsLocalStream = false;
      }
      this.emit('localstream', this.localStream);
      return this.localStream;
    }

    createPeer(iceServers) {
      const pc = new RTCPeerConnection(iceServers ? { iceServers } : {});
      this.pc = pc;
      this.localQueue = null;
      this.remoteStream = new MediaStream();
      pc.addEventListener('icecandidate', (ev) => {
        if (this.pc !== pc || (ev.candidate && !ev.candidate.candidate)) return;
        const candidate = ev.candidate ? plainCandidate(ev.candidate) : { completed: true };
        if (this.localQueue) this.localQueue.push(candidate);
        else this.trickle(candidate).catch(() => {});
      });
      pc.addEventListener('track', (ev) => {
        if (this.pc !== pc) return;
        const track = ev.track;
        this.remoteStream.addTrack(track);
        this.emit('track', track, ev.streams, true, ev.transceiver && ev.transceiver.mid);
        track.addEventListener('ended', () => {
          this.remoteStream.removeTrack(track);
          this.emit('track', track, ev.streams, false);
        });
      });
      pc.addEventListener('connectionstatechange', () => {
        if (this.pc === pc) this.emit('pcstate', pc.connectionState);
      });
      pc.addEventListener('iceconnectionstatechange', () => {
        if (this.pc === pc) this.emit('icestate', pc.iceConnectionState);
      });
      return pc;
    }

    // The server has our jsep once it acknowledged the message: candidates may follow it.
    flushLocalCandidates() {
      const queue = this.localQueue;
      this.localQueue = null;
      for (const c of queue || []) this.trickle(c).catch(() => {});
    }

    async applyRemoteDescription(jsep) {
      await this.pc.setRemoteDescription({ type: jsep.type, sdp: jsep.sdp });
      const queue = this.remoteQueue;
      this.remoteQueue = [];
      for (const c of queue) await this.addRemoteCandidate(c);
    }

    // Candidates that come before the remote description (or, for an offer from the plugin,
    // before answer() created the peer connection) wait for it.
    async addRemoteCandidate(c) {
      if (!this.pc || !this.pc.remoteDescription) { this.remoteQueue.push(c); return; }
      try {
        if (c.completed) await this.pc.addIceCandidate();
        else await this.pc.addIceCandidate(plainCandidate(c));
      } catch (e) {
        console.warn('odeon.js: remote candidate rejected', c, e);
      }
    }

    // A jsep in a plugin event: an answer to our offer, or an offer to answer.
    onRemoteJsep(jsep, data) {
      if (jsep.type === 'answer') {
        if (!this.pc || this.pc.signalingState !== 'have-local-offer') return;
        this.jsepDone = this.applyRemoteDescription(jsep).catch((e) => {
          this.emit('error', e);
          throw e;
        });
      } else if (jsep.type === 'offer') {
        if (this.listening('offer')) this.emit('offer', jsep, data);
        else console.warn('odeon.js: the plugin sent an offer; listen for "offer" to answer it');
      }
    }

    // Routes the core's events for this handle; `janus` is the event name.
    onServerEvent(msg) {
      if (msg.janus === 'event') {
        const data = msg.plugindata ? msg.plugindata.data : {};
        if (msg.jsep) this.onRemoteJsep(msg.jsep, data);
        this.emit('event', data, msg.jsep, msg);
        return;
      }
      if (msg.janus === 'trickle') {
        const list = msg.candidates || [msg.candidate];
        for (const c of list) if (c) this.addRemoteCandidate(c);
      }
      if (msg.janus === 'hangup' || msg.janus === 'detached') this.closePeer();
      if (msg.janus === 'detached') this.session.handles.delete(this.id);
      this.emit(msg.janus, msg);
    }

    closePeer() {
      const pc = this.pc;
      this.remoteQueue = [];
      this.localQueue = null;
      if (!pc) return;
      this.pc = null;
      if (this.localStream && this.ownsLocalStream) {
        for (const track of this.localStream.getTracks()) track.stop();
      }
      this.localStream = null;
      pc.close();
      this.emit('pcstate', 'closed');
    }

    async hangup() {
      this.closePeer();
      return this.session.send({ janus: 'hangup', handle_id: this.id });
    }

    async detach() {
      this.closePeer();
      await this.session.send({ janus: 'detach', handle_id: this.id });
      this.session.handles.delete(this.id);
    }
  }

  // ---------------------------------------------------------------------------------------

  class Session extends Emitter {
    constructor(transport, options) {
      super();
      this.transport = transport;
      this.options = options;
      this.id = null;
      this.handles = new Map();
      this.pending = new Map();
      this.keepaliveTimer = null;
      this.closed = false;
      transport.onmessage = (msg) => this.onMessage(msg);
      transport.onclose = () => this.onClose();
    }

    // sessionless: requests that only exist at the base path (info, ping), where a session id
    // would make the server answer "unknown request". onAck: called on an "ack" of a waitEvent
    // request.
    send(msg, { waitEvent = false, sessionless = false, onAck } = {}) {
      const transaction = randomTransaction();
      msg.transaction = transaction;
      if (this.id !== null && !sessionless) msg.session_id = this.id;
      if (this.options.token) msg.token = this.options.token;
      if (this.options.apisecret) msg.apisecret = this.options.apisecret;
      return new Promise((resolve, reject) => {
        this.pending.set(transaction, { resolve, reject, waitEvent, onAck });
        this.transport.send(msg).catch((e) => {
          if (!this.pending.delete(transaction)) return;
          reject(e);
        });
      });
    }

    onMessage(msg) {
      const pending = msg.transaction && this.pending.get(msg.transaction);
      if (pending) {
        this.pending.delete(msg.transaction);
        if (msg.janus === 'error') {
          pending.reject(new OdeonError(msg.error.code, msg.error.reason));
        } else if (msg.janus === 'ack' && pending.waitEvent) {
          this.pending.set(msg.transaction, pending); // the event with this transaction follows
          if (pending.onAck) pending.onAck();
        } else {
          // An event answering a request also reaches its handle (a jsep must be applied).
          if (msg.janus === 'event') this.dispatchEvent(msg);
          pending.resolve(msg);
        }
        return;
      }
      this.dispatchEvent(msg);
    }

    dispatchEvent(msg) {
      const handle = msg.sender && this.handles.get(msg.sender);
      if (msg.janus === 'timeout') { this.emit('timeout'); return; }
      if (!handle) { this.emit(msg.janus, msg); return; }
      handle.onServerEvent(msg);
    }

    onClose() {
      if (this.closed) return;
      this.closed = true;
      clearInterval(this.keepaliveTimer);
      for (const p of this.pending.values()) p.reject(new OdeonError(0, 'connection closed'));
      this.pending.clear();
      for (const handle of this.handles.values()) handle.closePeer();
      this.emit('closed');
    }

    async attach(plugin, opaqueId) {
      const msg = { janus: 'attach', plugin };
      if (opaqueId) msg.opaque_id = opaqueId;
      const reply = await this.send(msg);
      const handle = new Handle(this, reply.data.id, plugin);
      this.handles.set(handle.id, handle);
      return handle;
    }

    info() { return this.send({ janus: 'info' }, { sessionless: true }); }

    async destroy() {
      clearInterval(this.keepaliveTimer);
      for (const handle of this.handles.values()) handle.closePeer();
      this.transport.stopEvents();
      try {
        await this.send({ janus: 'destroy' });
      } finally {
        this.transport.close();
        this.onClose();
      }
    }
  }

  // ws:// and wss:// URLs use the WebSocket transport, http:// and https:// the long-poll one
  // (options.transport = 'ws' | 'http' overrides). Resolves with a created Session.
  async function connect(url, options = {}) {
    const kind = options.transport || (/^wss?:/i.test(url) ? 'ws' : 'http');
    const transport = kind === 'ws' ? new WsTransport(url) : new HttpTransport(url, options);
    await transport.open();
    const session = new Session(transport, options);
    try {
      const reply = await session.send({ janus: 'create' });
      session.id = reply.data.id;
    } catch (e) {
      transport.close();
      throw e;
    }
    transport.startEvents(session.id);
    session.keepaliveTimer = setInterval(
      () => session.send({ janus: 'keepalive' }).catch(() => {}),
      options.keepaliveMs || 25000);
    return session;
  }

  // The API URL on the page's own host: ws(s)://host/janus, or http(s)://host/janus when
  // transport is 'http'.
  function defaultUrl(path = '/janus', transport = 'ws') {
    const secure = global.location && global.location.protocol === 'https:';
    const scheme = transport === 'http' ? (secure ? 'https' : 'http') : (secure ? 'wss' : 'ws');
    return `${scheme}://${global.location.host}${path}`;
  }

  global.Odeon = { connect, defaultUrl, OdeonError, Session, Handle };
})(typeof window !== 'undefined' ? window : globalThis);
