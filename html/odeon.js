// odeon.js - the Odeon browser client: Janus API sessions and plugin handles over WebSocket.
//
// Speaks the Janus JSON API ("janus-protocol" subprotocol), so it works against Odeon and
// Janus alike. A Session keeps itself alive with keepalives, matches replies to requests by
// transaction, and routes asynchronous events to the handle they name.
//
//   const session = await Odeon.connect('ws://host:8088/janus', { token });
//   const echo = await session.attach('odeon.plugin.echotest');
//   const reply = await echo.request({ request: 'ping' });      // sync: plugindata.data
//   echo.on('event', (data, jsep, msg) => ...);
//   await echo.detach(); await session.destroy();

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
    emit(name, ...args) {
      for (const fn of this.listeners.get(name) || []) {
        try { fn(...args); } catch (e) { console.error(e); }
      }
    }
  }

  class Handle extends Emitter {
    constructor(session, id, plugin) {
      super();
      this.session = session;
      this.id = id;
      this.plugin = plugin;
    }

    // Resolves with plugindata.data for a synchronous reply, or with the data of the event
    // that carries the same transaction after an "ack".
    request(body, jsep) {
      const msg = { janus: 'message', body, handle_id: this.id };
      if (jsep) msg.jsep = jsep;
      return this.session.send(msg, { waitEvent: true }).then((reply) => {
        const data = reply.plugindata ? reply.plugindata.data : {};
        return reply.jsep ? { data, jsep: reply.jsep } : data;
      });
    }

    trickle(candidate) {
      return this.session.send({ janus: 'trickle', handle_id: this.id,
                                 candidate: candidate || { completed: true } });
    }

    hangup() { return this.session.send({ janus: 'hangup', handle_id: this.id }); }

    async detach() {
      await this.session.send({ janus: 'detach', handle_id: this.id });
      this.session.handles.delete(this.id);
    }
  }

  class Session extends Emitter {
    constructor(ws, options) {
      super();
      this.ws = ws;
      this.options = options;
      this.id = null;
      this.handles = new Map();
      this.pending = new Map();
      this.keepaliveTimer = null;
      ws.addEventListener('message', (ev) => this.onMessage(ev.data));
      ws.addEventListener('close', () => this.onClose());
    }

    // sessionless: requests that only exist at the base path (info, ping), where a session id
    // would make the server answer "unknown request".
    send(msg, { waitEvent = false, sessionless = false } = {}) {
      const transaction = randomTransaction();
      msg.transaction = transaction;
      if (this.id !== null && !sessionless) msg.session_id = this.id;
      if (this.options.token) msg.token = this.options.token;
      if (this.options.apisecret) msg.apisecret = this.options.apisecret;
      return new Promise((resolve, reject) => {
        this.pending.set(transaction, { resolve, reject, waitEvent });
        this.ws.send(JSON.stringify(msg));
      });
    }

    onMessage(text) {
      let msg;
      try { msg = JSON.parse(text); } catch (e) { return; }
      const pending = msg.transaction && this.pending.get(msg.transaction);
      if (pending) {
        this.pending.delete(msg.transaction);
        if (msg.janus === 'error') {
          pending.reject(new OdeonError(msg.error.code, msg.error.reason));
        } else if (msg.janus === 'ack' && pending.waitEvent) {
          this.pending.set(msg.transaction, pending); // the event with this transaction follows
        } else {
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
      if (msg.janus === 'event') {
        handle.emit('event', msg.plugindata ? msg.plugindata.data : {}, msg.jsep, msg);
      } else {
        if (msg.janus === 'detached') this.handles.delete(handle.id);
        handle.emit(msg.janus, msg);
      }
    }

    onClose() {
      clearInterval(this.keepaliveTimer);
      for (const p of this.pending.values()) p.reject(new OdeonError(0, 'connection closed'));
      this.pending.clear();
      this.emit('closed');
    }

    async attach(plugin) {
      const reply = await this.send({ janus: 'attach', plugin });
      const handle = new Handle(this, reply.data.id, plugin);
      this.handles.set(handle.id, handle);
      return handle;
    }

    info() { return this.send({ janus: 'info' }, { sessionless: true }); }

    async destroy() {
      clearInterval(this.keepaliveTimer);
      await this.send({ janus: 'destroy' });
      this.ws.close();
    }
  }

  function connect(url, options = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, 'janus-protocol');
      ws.addEventListener('error', () => reject(new OdeonError(0, `cannot connect to ${url}`)));
      ws.addEventListener('open', async () => {
        const session = new Session(ws, options);
        try {
          const reply = await session.send({ janus: 'create' });
          session.id = reply.data.id;
          session.keepaliveTimer = setInterval(
            () => session.send({ janus: 'keepalive' }).catch(() => {}),
            options.keepaliveMs || 25000);
          resolve(session);
        } catch (e) {
          ws.close();
          reject(e);
        }
      });
    });
  }

  function defaultUrl(path = '/janus') {
    const scheme = global.location && global.location.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${global.location.host}${path}`;
  }

  global.Odeon = { connect, defaultUrl, OdeonError };
})(typeof window !== 'undefined' ? window : globalThis);
