// Self-test for httpload: a deliberately awkward HTTP/1.1 server on 127.0.0.1, written on raw
// sockets so every byte of framing is ours, then httpload against it in several modes.
//
//   node tests/bench/listing/selftest.mjs [path/to/httpload]   (default: compiles httpload.c)
//
// The server answers by path: Content-Length bodies written in many small pieces (the header
// block split mid-line and across "\r\n\r\n"), chunked bodies (upper/lower-case sizes, chunk
// extensions, trailers, one byte per write), 204 and 304 without a body, 100 Continue before
// the answer, Connection: close, HTTP/1.0, a body that runs to the end of the connection, 404,
// a slow answer, a reset in the middle of a body. It counts what it served; each httpload run
// must agree on answers, body bytes, status codes and errors, and the open-loop runs must
// charge queueing to latency (no coordinated omission). Exit status 0 when all checks pass.
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
let bin = process.argv[2];
if (!bin) {
  bin = path.join(os.tmpdir(), `httpload-selftest-${process.pid}`);
  const cc = spawnSync('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Wshadow', '-Wformat=2', '-Werror',
    '-o', bin, path.join(here, 'httpload.c')], { stdio: 'inherit' });
  if (cc.status !== 0) process.exit(2);
  process.on('exit', () => fs.rmSync(bin, { force: true }));
}

const served = { answers: 0, body: 0, status: {} };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));
let counter = 0;

// writes buf in pieces of the given sizes (cycled), yielding between them so they become
// separate TCP segments
async function writePieces(sock, buf, sizes) {
  let off = 0, i = 0;
  while (off < buf.length) {
    const n = Math.min(sizes[i++ % sizes.length], buf.length - off);
    if (sock.destroyed) return;
    sock.write(buf.subarray(off, off + n));
    off += n;
    if (i % 3 === 0) await tick();
  }
}

function count(status, body) {
  served.answers++;
  served.body += body;
  served.status[status] = (served.status[status] || 0) + 1;
}

async function answer(sock, target) {
  const [p] = target.split('?');
  const n = counter++;
  const body = Buffer.from('x'.repeat(p === '/big' ? 200000 : 10 + (n % 7) * 997));
  switch (p) {
    case '/len': { // header block split everywhere, "\r\n\r\n" across two writes
      const head = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length:   ${body.length}  \r\nETag: "e${n}"\r\n\r\n`;
      count(200, body.length);
      await writePieces(sock, Buffer.concat([Buffer.from(head), body]), [3, 17, head.length - 21, 1, 500, 4096]);
      return;
    }
    case '/big': {
      count(200, body.length);
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      await writePieces(sock, body, [65536, 70000, 1]);
      return;
    }
    case '/chunked': {
      let out = `HTTP/1.1 200 OK\r\nTransfer-Encoding: ${n % 2 ? 'chunked' : 'Chunked '}\r\n\r\n`;
      let off = 0, k = 0;
      while (off < body.length) {
        const len = Math.min(body.length - off, [1, 15, 256, 4000][k % 4]);
        const hex = k % 2 ? len.toString(16).toUpperCase() : len.toString(16);
        out += hex + (k % 3 === 0 ? ';ext=1' : '') + '\r\n' + 'x'.repeat(len) + '\r\n';
        off += len;
        k++;
      }
      out += n % 2 ? '0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n' : '0\r\n\r\n';
      count(200, body.length);
      const b = Buffer.from(out);
      await writePieces(sock, b, n % 5 === 0 ? [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4096] : [2, 9, 333, 8192]);
      return;
    }
    case '/304':
      count(304, 0);
      sock.write(`HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nCache-Control: public, max-age=10\r\n\r\n`);
      return;
    case '/204':
      count(204, 0);
      sock.write('HTTP/1.1 204 No Content\r\n\r\n');
      return;
    case '/continue':
      count(200, body.length);
      await writePieces(sock, Buffer.from(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`), [5, 40]);
      return;
    case '/close':
      count(200, body.length);
      sock.end(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    case '/eof':
      count(200, body.length);
      sock.end(`HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n${body}`);
      return;
    case '/http10':
      count(200, body.length);
      sock.end(`HTTP/1.0 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      return;
    case '/404':
      count(404, 9);
      sock.write('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found');
      return;
    case '/slow':
      await sleep(20);
      count(200, 2);
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      return;
    case '/reset': // half a body, then a reset
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf');
      await sleep(1);
      sock.resetAndDestroy();
      return;
    default:
      sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  }
}

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  let buf = '';
  let busy = Promise.resolve();
  sock.on('data', (d) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
      const head = buf.slice(0, i);
      buf = buf.slice(i + 4);
      const m = /^GET (\S+) HTTP\/1\.1\r\n/.exec(head);
      if (!m || !/\r\nHost: /.test(head)) { sock.destroy(); return; }
      busy = busy.then(() => answer(sock, m[1]));
    }
  });
  sock.on('error', () => {});
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;

function run(args) {
  return new Promise((resolve) => {
    const before = JSON.parse(JSON.stringify(served));
    const p = spawn(bin, ['--port', String(port), '--quiet', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => {
      let j = null;
      try { j = JSON.parse(out); } catch { /* reported below */ }
      const delta = { answers: served.answers - before.answers, body: served.body - before.body, status: {} };
      for (const k of Object.keys(served.status)) delta.status[k] = served.status[k] - (before.status[k] || 0);
      resolve({ code, j, out, err, delta });
    });
  });
}

let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok ? '' : ': ' + detail}`);
  if (!ok) failed++;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'httpload-selftest-'));
const pathsFile = path.join(tmp, 'paths.txt');
fs.writeFileSync(pathsFile, [
  '# awkward but valid answers', '', 'len /len?a=1', 'chunked /chunked', '  big /big  ',
  'nobody /304', 'nobody /204', 'len /continue', 'close /close', 'close /eof', 'close /http10',
].join('\n') + '\n');

{ // closed loop over every valid kind: no error, and both sides agree
  const r = await run(['--paths', pathsFile, '--connections', '8', '--duration', '1.5', '--warmup', '0.3']);
  const j = r.j;
  check('closed loop: JSON line', j !== null, r.out + r.err);
  if (j) {
    check('closed loop: 0 errors, exit 0', j.errors === 0 && r.code === 0, r.out);
    check('closed loop: every answer the server sent was parsed', j.completed === r.delta.answers && j.sent === j.completed,
      `server ${r.delta.answers}, httpload completed ${j.completed} sent ${j.sent}`);
    check('closed loop: body bytes agree', j.body_bytes === r.delta.body, `server ${r.delta.body}, httpload ${j.body_bytes}`);
    check('closed loop: 200, 204 and 304 seen', j.status['200'] > 0 && j.status['204'] > 0 && j.status['304'] > 0, JSON.stringify(j.status));
    check('closed loop: reconnects after close/eof/http10', j.reconnects >= (j.completed * 3) / 10 - 8, `${j.reconnects} of ${j.completed}`);
    check('closed loop: tags', ['len', 'chunked', 'big', 'nobody', 'close'].every((t) => j.tags[t] && j.tags[t].n > 0), JSON.stringify(j.tags));
    check('closed loop: percentiles ordered', j.min_ms <= j.p50_ms && j.p50_ms <= j.p90_ms && j.p90_ms <= j.p99_ms && j.p99_ms <= j.p999_ms && j.p999_ms <= j.max_ms, r.out);
    check('closed loop: a few thousand answers', j.requests > 1000, r.out);
  }
}
{ // random pick, open loop at a rate the server easily keeps: the rate is met
  const r = await run(['--paths', pathsFile, '--random', '7', '--rate', '1000', '--connections', '16', '--duration', '1.5', '--warmup', '0.3']);
  const j = r.j;
  check('open loop 1000/s: 0 errors', j && j.errors === 0 && r.code === 0, r.out + r.err);
  check('open loop 1000/s: rate met', j && Math.abs(j.req_per_s - 1000) < 50 && Math.abs(j.measured - 1500) <= 2 && j.backlog_max < 16, r.out);
  check('open loop 1000/s: parsed all', j && j.completed === r.delta.answers, r.out);
}
{ // 404: errors, exit 1
  const r = await run(['--path', '/404', '--connections', '2', '--duration', '0.3', '--warmup', '0']);
  check('404: counted as errors, exit 1', r.j && r.j.bad_status > 0 && r.j.errors === r.j.bad_status && r.code === 1 && r.j.status['404'] === r.j.measured, r.out);
}
{ // resets mid-body: errors, no hang
  const r = await run(['--path', '/reset', '--path', '/len', '--connections', '4', '--duration', '0.5', '--warmup', '0']);
  check('reset mid-body: counted, others fine', r.j && r.j.err_reset + r.j.err_closed > 0 && r.j.status['200'] > 0 && r.code === 1, r.out);
}
{ // open loop within capacity: latency is the service time
  const r = await run(['--path', '/slow', '--rate', '50', '--connections', '4', '--duration', '1', '--warmup', '0.2']);
  const j = r.j;
  check('open loop under capacity: p50 ~ 20 ms, no backlog', j && j.p50_ms >= 19 && j.p50_ms < 35 && j.backlog_max <= 1 && j.errors === 0, r.out);
}
{ // open loop over capacity (4 connections x 1/20 ms = 200/s < 400/s): queueing is charged
  const r = await run(['--path', '/slow', '--rate', '400', '--connections', '4', '--duration', '1', '--warmup', '0', '--drain', '0.5']);
  const j = r.j;
  // request k is due at k/400 s and answered at about k/200 s: by the end of 1 s the wait is
  // ~0.5 s; a closed-loop view would say 20 ms throughout
  check('open loop over capacity: backlog, latency from the schedule', j && j.backlog_max > 100 && j.p99_ms > 300 && j.req_per_s < 230, r.out);
  check('open loop over capacity: unsent counted as errors', j && j.unsent + j.unfinished > 0 && r.code === 1, r.out);
}
{ // closed loop: the same server, the same path, latency is the service time
  const r = await run(['--path', '/slow', '--connections', '4', '--duration', '0.5', '--warmup', '0']);
  check('closed loop on /slow: ~200/s, p99 < 40 ms', r.j && r.j.req_per_s > 150 && r.j.req_per_s < 210 && r.j.p99_ms < 40, r.out);
}
{ // nothing listening: exit 1 quickly
  const t = Date.now();
  const p = spawnSync(bin, ['--port', '1', '--path', '/', '--connections', '2', '--duration', '1', '--connect-timeout', '1'], { encoding: 'utf8' });
  check('no server: exit 1', p.status === 1 && Date.now() - t < 15000, `${p.status} ${p.stderr}`);
}

server.close();
fs.rmSync(tmp, { recursive: true, force: true });
console.log(failed ? `${failed} check(s) failed` : 'all checks passed');
process.exit(failed ? 1 : 0);
