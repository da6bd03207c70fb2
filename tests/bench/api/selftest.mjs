// Self-test for loadgen: a deliberately awkward fake Janus API server on 127.0.0.1.
//
//   node tests/bench/api/selftest.mjs [path/to/loadgen]
//
// HTTP side: every reply is chunked in several pieces or uses Content-Length (alternating), and bytes are
// sometimes written in separate TCP segments. `{"audio":true}` is acked and the event is delivered
// through a long-poll GET. Sometimes a keepalive or a foreign event comes first. `{"request":"ping"}` is
// answered synchronously with success.
// WebSocket side: replies are sometimes fragmented (text + continuation frames with a ping in between),
// padded so that 16-bit and 64-bit payload lengths occur. The event sometimes overtakes the ack, and
// stray events (no transaction) are interleaved.
// Then loadgen runs against it in both protocols and both message kinds. Every run must finish with
// zero errors, and the counters show that each awkward path was taken.
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { WebSocketServer } from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const loadgen = process.argv[2] || path.join(here, 'loadgen');

let nextId = 1000;
const sessions = new Map(); // id -> { handles:Set, queue:[], waiter:null }
const big = (n) => 'x'.repeat(n);
let counter = 0;

function handle(req, push) {
  // returns the direct reply; async events go to push(sessionId, obj)
  const t = req.transaction;
  switch (req.janus) {
    case 'create': {
      const id = ++nextId * 1000003;
      sessions.set(id, { handles: new Set(), queue: [], waiter: null });
      return { janus: 'success', transaction: t, data: { id } };
    }
    case 'attach': {
      const s = sessions.get(req.session_id);
      if (!s) return { janus: 'error', transaction: t, error: { code: 458, reason: 'No such session' } };
      const id = ++nextId * 7;
      s.handles.add(id);
      return { janus: 'success', session_id: req.session_id, transaction: t, data: { id } };
    }
    case 'message': {
      const s = sessions.get(req.session_id);
      if (!s || !s.handles.has(req.handle_id))
        return { janus: 'error', transaction: t, error: { code: 459, reason: 'No such handle' } };
      if (req.body && req.body.request === 'ping')
        return {
          janus: 'success', session_id: req.session_id, sender: req.handle_id, transaction: t,
          plugindata: { plugin: 'fake.echotest', data: { echotest: 'pong', pad: big(counter++ % 3 === 0 ? 70000 : 10) } },
        };
      const ev = {
        janus: 'event', session_id: req.session_id, sender: req.handle_id, transaction: t,
        plugindata: { plugin: 'fake.echotest', data: { echotest: 'event', result: 'ok', pad: big([5, 300, 70000][counter++ % 3]) } },
      };
      push(req.session_id, ev);
      return { janus: 'ack', session_id: req.session_id, transaction: t };
    }
    case 'destroy': {
      if (!sessions.delete(req.session_id))
        return { janus: 'error', transaction: t, error: { code: 458, reason: 'No such session' } };
      return { janus: 'success', session_id: req.session_id, transaction: t };
    }
    default:
      return { janus: 'error', transaction: t, error: { code: 453, reason: 'Unknown request' } };
  }
}

// ---------------------------------------------------------------- HTTP
let httpN = 0;
function send(res, obj) {
  const body = JSON.stringify(obj, null, httpN % 5 === 0 ? 2 : 0); // sometimes indented, like Janus
  const n = httpN++;
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json');
  if (n % 2 === 0) {
    res.setHeader('Content-Length', Buffer.byteLength(body));
    if (n % 4 === 0) {
      res.write(body.slice(0, 7));
      setTimeout(() => res.end(body.slice(7)), 1);
    } else res.end(body);
  } else {
    // chunked, several chunks
    const a = Math.floor(body.length / 3);
    res.write(body.slice(0, a));
    res.write(body.slice(a, 2 * a));
    setTimeout(() => res.end(body.slice(2 * a)), n % 3 === 0 ? 1 : 0);
  }
}

function httpPush(sid, ev) {
  const s = sessions.get(sid);
  if (!s) return;
  if (counter % 4 === 0) s.queue.push({ janus: 'keepalive' });
  if (counter % 5 === 0) s.queue.push({ janus: 'event', session_id: sid, sender: 1, plugindata: { plugin: 'x', data: {} } });
  s.queue.push(ev);
  flush(s);
}
function flush(s) {
  if (s.waiter && s.queue.length) {
    const w = s.waiter;
    s.waiter = null;
    send(w, s.queue.shift());
  }
}

const httpServer = http.createServer({ keepAliveTimeout: 60000 }, (req, res) => {
  const m = req.url.match(/^\/janus(?:\/(\d+))?(?:\/(\d+))?(\?.*)?$/);
  if (!m) { res.statusCode = 404; return res.end(); }
  const sid = m[1] ? Number(m[1]) : undefined, hid = m[2] ? Number(m[2]) : undefined;
  if (req.method === 'GET') {
    const s = sessions.get(sid);
    if (!s) return send(res, { janus: 'error', error: { code: 458, reason: 'No such session' } });
    s.waiter = res;
    // deliver after a short delay so the long-poll really waits sometimes
    setTimeout(() => flush(s), counter % 2 ? 0 : 2);
    return;
  }
  let data = '';
  req.on('data', (d) => (data += d));
  req.on('end', () => {
    const r = JSON.parse(data);
    if (sid !== undefined) r.session_id = sid;
    if (hid !== undefined) r.handle_id = hid;
    send(res, handle(r, httpPush));
  });
});

// ---------------------------------------------------------------- WebSocket
let wsN = 0;
function wsSend(ws, obj) {
  const s = JSON.stringify(obj);
  const n = wsN++;
  if (n % 3 === 0 && s.length > 10) {
    const a = Math.floor(s.length / 3);
    ws.send(s.slice(0, a), { fin: false });
    ws.ping('hi');
    ws.send(s.slice(a, 2 * a), { fin: false });
    ws.send(s.slice(2 * a), { fin: true });
  } else {
    if (n % 7 === 0) ws.ping();
    ws.send(s);
  }
}
const httpForWs = http.createServer();
const wss = new WebSocketServer({
  server: httpForWs,
  handleProtocols: (protos) => (protos.has('janus-protocol') ? 'janus-protocol' : false),
});
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const r = JSON.parse(data.toString());
    let pending = null;
    const reply = handle(r, (sid, ev) => (pending = ev));
    if (wsN % 11 === 0) wsSend(ws, { janus: 'webrtcup', session_id: r.session_id, sender: 1 });
    if (pending && wsN % 2 === 0) {
      wsSend(ws, pending); // event overtakes the ack
      wsSend(ws, reply);
    } else {
      wsSend(ws, reply);
      if (pending) setTimeout(() => wsSend(ws, pending), wsN % 3 ? 0 : 1);
    }
  });
});

await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
await new Promise((r) => httpForWs.listen(0, '127.0.0.1', r));
const hp = httpServer.address().port, wp = httpForWs.address().port;

let failed = false;
function run(proto, message, expect, extra = []) {
  return new Promise((resolve) => {
    const port = proto === 'http' ? hp : wp;
    const args = ['--proto', proto, '--port', String(port), '--plugin', 'fake.echotest', '--message', message,
      '--concurrency', '20', '--iterations', '600', '--label', 'fake', ...extra];
    // run asynchronously so this process keeps serving
    import('node:child_process').then(({ spawn }) => {
      const p = spawn(loadgen, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('close', (code) => {
        let j = {};
        try { j = JSON.parse(out); } catch { /* reported below */ }
        const problems = [];
        if (code !== 0) problems.push(`exit code ${code}`);
        if (j.iterations !== 600) problems.push(`iterations ${j.iterations}`);
        if (j.errors !== 0) problems.push(`errors ${j.errors}`);
        for (const [k, v] of Object.entries(expect)) if (!(j[k] >= v)) problems.push(`${k}=${j[k]} (< ${v})`);
        console.log(`${problems.length ? 'FAIL' : 'ok  '} ${proto} ${message} ${extra.join(' ')}: ${problems.join(', ') || out.trim().slice(0, 140) + '...'}`);
        if (problems.length) { failed = true; console.log(out); }
        resolve();
      });
    });
  });
}

if (spawnSync(loadgen, ['--help']).status !== 0) {
  console.error(`selftest: cannot run ${loadgen}`);
  process.exit(2);
}
await run('ws', '{"audio":true}', { msg_async: 600, event_before_ack: 1, ws_fragmented: 1, ws_pings: 1, stray: 1 });
await run('ws', '{"request":"ping"}', { msg_sync: 600, ws_fragmented: 1, ws_pings: 1 });
await run('http', '{"audio":true}', { msg_async: 600, polls: 600, poll_other: 1 });
await run('http', '{"request":"ping"}', { msg_sync: 600 });
await run('ws', '{"audio":true}', { msg_async: 600 }, ['--threads', '3']);
await run('http', '{"audio":true}', { msg_async: 600 }, ['--threads', '3']);
httpServer.close();
httpForWs.close();
wss.close();
process.exit(failed ? 1 : 0);
