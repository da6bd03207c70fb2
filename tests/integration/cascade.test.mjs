// Relay nodes (Odeon only): an origin, two relays and a relay of a relay, each its own odeon
// process on loopback, sharing a throwaway PostgreSQL. The load generator's source feeds the
// origin's stage; load-generator viewers watch on every node and decode the same frames; the
// registry, placement, failover (a relay killed with SIGKILL) and the refusals of bad
// node-to-node requests are checked.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ODEON_ONLY, freePorts, isJanus, makeTempDir, sleep, startServer } from './harness.mjs';
import { loadBin, runLoad, startSource } from './loadgen.mjs';
import { SQL_DIR, createDatabase, psql } from './pg.mjs';

const SECRET = 'cascade-test-shared-secret';
const DROP_EVERY = 40;
const skip = ODEON_ONLY || (!fs.existsSync(loadBin) && `no load generator at ${loadBin}`);

let db;
let confDir;
let relayConfDir;
let sourcePorts;
const nodes = {};

function clusterConfig(id, role, upstream, capacity = 0) {
  return (ports) => [
    '[database]', `conninfo = ${db}`, '',
    '[cluster]', `role = ${role}`, `node_id = ${id}`, `public_url = http://127.0.0.1:${ports.http}`,
    ...(upstream ? [`upstream = ${upstream}`] : []), `secret = ${SECRET}`,
    'heartbeat_ms = 300', 'dead_after_ms = 1200', `capacity = ${capacity}`, '',
  ].join('\n');
}

async function startNode(id, role, upstream, capacity = 0) {
  const server = await startServer({
    plugins: ['stage'], pluginsConfigDir: role === 'origin' ? confDir : relayConfDir,
    media: { ipv6: false }, sqlDir: SQL_DIR,
    extraConfig: clusterConfig(id, role, upstream ? upstream.httpBase : null, capacity),
  });
  nodes[id] = server;
  return server;
}

function viewersArgs(server, ...extra) {
  return ['viewers', '--host', '127.0.0.1', '--port', String(server.ports.http), '--path', '/janus',
    '--plugin', 'odeon.plugin.stage', ...extra];
}

/** The admin API's list_nodes on server. */
async function listNodes(server) {
  const res = await fetch(server.adminUrl, {
    method: 'POST',
    body: JSON.stringify({ janus: 'list_nodes', transaction: 'n', admin_secret: server.adminSecret }),
  });
  return res.json();
}

async function waitFor(what, fn, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

let source;

before(async () => {
  if (skip) return;
  db = createDatabase('odeon_cascade');
  sourcePorts = await freePorts(2);
  confDir = makeTempDir('odeon-cascade-');
  relayConfDir = makeTempDir('odeon-cascade-relay-');
  fs.writeFileSync(path.join(confDir, 'stage.conf'), [
    '[stage-1]', 'description = cascaded', `audio_port = ${sourcePorts[0]}`, 'audio_pt = 111',
    'audio_codec = opus', `video_port = ${sourcePorts[1]}`, 'video_pt = 96', 'video_codec = VP8', '',
    '[stage-2]', 'description = WHIP-fed', 'secret = whipsecret', 'audio_port = 0', 'audio_pt = 111',
    'audio_codec = opus', 'video_port = 0', 'video_pt = 96', 'video_codec = VP8', '',
    // Every link loses 1 packet in 40 (fault injection): each hop NACKs and is repaired from
    // its upstream's ring, so every viewer still gets every packet.
    '[relay]', `drop_every = ${DROP_EVERY}`, '',
  ].join('\n'));
  fs.writeFileSync(path.join(relayConfDir, 'stage.conf'),
    `[relay]\ngrace_seconds = 2\ndrop_every = ${DROP_EVERY}\n`);
  const origin = await startNode('origin', 'origin');
  const relay1 = await startNode('relay-1', 'relay', origin, 4);
  await startNode('relay-2', 'relay', origin, 4);
  await startNode('relay-3', 'relay', relay1, 4);
  source = startSource(['--video', `127.0.0.1:${sourcePorts[1]}`, '--audio', `127.0.0.1:${sourcePorts[0]}`,
    '--duration', '0']);
});

after(async () => {
  if (source) source.kill('SIGTERM');
  for (const server of Object.values(nodes).reverse()) {
    if (!server.exited) await server.stop();
    server.cleanup();
  }
  for (const dir of [confDir, relayConfDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('every node registers with its role and heartbeat', { skip }, async () => {
  const list = await waitFor('four live nodes', async () => {
    const r = await listNodes(nodes.origin);
    return r.nodes && r.nodes.filter((n) => n.live).length === 4 ? r : null;
  });
  assert.equal(list.janus, 'success');
  const byId = Object.fromEntries(list.nodes.map((n) => [n.id, n]));
  assert.equal(byId.origin.role, 'origin');
  assert.equal(byId['relay-3'].role, 'relay');
  assert.equal(byId['relay-3'].upstream, nodes['relay-1'].httpBase);
  assert.equal(psql(db, 'SELECT count(*) FROM odeon_schema_migrations'), String(fs.readdirSync(SQL_DIR).filter((f) => /^\d+_.*\.sql$/.test(f)).length));
});

function summaryOf(out) {
  const line = out.split('\n').find((l) => l.startsWith('{"summary":true'));
  assert.ok(line, out);
  return JSON.parse(line);
}

function viewerLines(out) {
  return out.split('\n').filter((l) => l.startsWith('{"viewer":')).map((l) => JSON.parse(l));
}

// Relays take 4 viewers each (capacity), so 16 viewers placed from the origin fill the three
// relays and the last 4 stay on the origin: one run of decoders on all four nodes, whose
// decoded frames are compared picture by picture.
test('viewers placed on the origin, two relays and a relay of a relay decode the same frames', { skip }, async (t) => {
  const r = await runLoad(viewersArgs(nodes.origin, '--placement', '--viewers', '16', '--decode', '16',
    '--duration', '6', '--setup-timeout', '30', '--json'), 90000);
  t.diagnostic(r.out.split('\n').filter((l) => l.startsWith('|') || l.startsWith('cluster')).join('\n'));
  const sum = summaryOf(r.out);
  const links = (await listNodes(nodes['relay-1'])).node.links;
  t.diagnostic(JSON.stringify(links));
  assert.equal(r.code, 0, `odeon-load viewers failed (exit ${r.code}):\n${r.out}\n${r.err}`);
  assert.equal(sum.ok, 16);
  assert.equal(sum.checksums_agree, true);
  assert.ok(sum.compared_frames >= 120, `only ${sum.compared_frames} frames compared`);
  // Every node serves some and no relay more than its capacity (placement errs on the side
  // of room). 'entry': served by the origin it asked; 'origin': sent back there by a relay.
  // Capacity holds within one viewer (docs/scaling.md, "Capacity model"): under ASan on a
  // loaded machine a relay of capacity 4 once got 5; why is still open.
  for (const id of ['relay-1', 'relay-2', 'relay-3']) {
    assert.ok(sum.nodes[id] >= 2 && sum.nodes[id] <= 5, JSON.stringify(sum.nodes));
  }
  assert.ok((sum.nodes.entry || 0) + (sum.nodes.origin || 0) >= 3, JSON.stringify(sum.nodes));
  // The links drop 1 packet in 40 and every one of those must be repaired; what a viewer may
  // still miss is a repair that reached it after its decoder's 64-packet reorder window on a
  // starved machine (seen once: 2 of 18,000 packets), never a link's unrepaired loss.
  assert.ok(sum.loss_pct < 0.05, `a viewer lost ${sum.lost} packets (${sum.loss_pct}%): the links' losses were not all repaired`);
  const up = links.find((l) => l.direction === 'up' && l.node === 'origin' && l.state === 'up');
  const down = links.find((l) => l.direction === 'down' && l.node === 'relay-3');
  assert.ok(up && down, JSON.stringify(links));
  // Losses on the origin's link were NACKed and repaired by the origin; relay-3's losses by
  // relay-1 from its own ring.
  assert.ok(up.lost >= 10 && up.repaired >= up.lost - 2, JSON.stringify(up));
  assert.ok(down.dropped >= 10 && down.retransmits >= down.dropped - 2, JSON.stringify(down));
});

test('a relay with no viewers closes its link after the grace period', { skip }, async () => {
  // grace_seconds = 2 on the relays: the links of the previous test go.
  await waitFor('relay-3 to close its link', async () => {
    const r = await listNodes(nodes['relay-3']);
    return r.node.links.length === 0;
  }, 8000);
  await waitFor('relay-1 to close both of its links', async () => {
    const r = await listNodes(nodes['relay-1']);
    return r.node.links.length === 0;
  }, 8000);
});

// SIGKILL one relay in mid-stream: its viewers notice (WebSocket gone, media silent), ask the
// origin for placement again without it, and are back on media on another node within 5 s;
// viewers on the other relays see no gap at all.
test('a relay killed mid-stream: its viewers are back on another node within 5 s', { skip }, async (t) => {
  // The previous test's viewers are gone from the registry first (so placement has room).
  await waitFor('the relays to report no viewers', async () => {
    const list = await listNodes(nodes.origin);
    return list.nodes.filter((n) => n.role === 'relay' && n.live && n.viewers === 0).length === 3;
  }, 10000);
  // Viewers NACK what a gap skipped, as browsers do: a packet the loaded machine dropped on
  // its way (a socket buffer, a link) is repaired, as it would be for a real viewer.
  const run = runLoad(viewersArgs(nodes.origin, '--placement', '--failover-after-ms', '800', '--viewers', '9',
    '--decode', '9', '--duration', '10', '--setup-timeout', '20', '--nack-gaps', '--json'), 90000);
  await waitFor('viewers on relay-2', async () => (await listNodes(nodes['relay-2'])).node.viewers >= 3, 15000);
  await sleep(2500);
  nodes['relay-2'].proc.kill('SIGKILL');
  const r = await run;
  t.diagnostic(r.out.split('\n').filter((l) => l.startsWith('|') || l.startsWith('cluster')).join('\n'));
  assert.equal(r.code, 0, `odeon-load viewers failed (exit ${r.code}):\n${r.out}\n${r.err}`);
  const sum = summaryOf(r.out);
  assert.equal(sum.ok, 9);
  assert.ok(sum.failed_over >= 3, `only ${sum.failed_over} viewers failed over`);
  assert.equal(sum.failover_unrecovered, 0);
  assert.ok(sum.failover_gap_ms_max < 5000, `a viewer was without media for ${sum.failover_gap_ms_max} ms`);
  // Elsewhere no gap comes near what a disturbed link would show (a
  // relay resubscribes after 2.5 s of silence). The bound is loose on purpose: the load
  // generator is reconnecting the failed-over viewers meanwhile, and under ASan on a shared
  // 2-core machine its own scheduling alone has made 0.8 s gaps.
  assert.ok(sum.max_gap_ms_no_failover < 2000, `a viewer elsewhere had a ${sum.max_gap_ms_no_failover} ms gap`);
  // What they lose for good stays a trace. The links drop 1 packet in 40 on purpose and repair
  // it; a viewer's first NACK of such a gap can reach its relay before the relay has the packet
  // back (3 of 1,265 lost on a starved CI machine when the load generator NACKed once), so the
  // viewers NACK again as browsers do. A disturbed link would cost seconds of packets.
  t.diagnostic(viewerLines(r.out).filter((v) => v.failovers === 0)
    .map((v) => `viewer ${v.viewer} on ${v.node}: lost ${v.lost}, NACKed ${v.nacks_sent}, repaired ${v.repaired}`).join('; '));
  for (const v of viewerLines(r.out)) {
    if (v.failovers === 0) assert.ok(v.lost <= Math.ceil(v.packets * 0.002), JSON.stringify(v));
  }
  assert.equal(sum.checksums_agree, true);
  for (const v of viewerLines(r.out)) {
    if (v.failovers > 0) assert.notEqual(v.node, 'relay-2', JSON.stringify(v));
  }
  // The registry takes the dead relay out of placement once its heartbeat stops.
  await waitFor('relay-2 to be dead in the registry', async () => {
    const list = await listNodes(nodes.origin);
    const row = list.nodes.find((n) => n.id === 'relay-2');
    return row && !row.live;
  }, 5000);
});

// A viewer two hops down asks for keyframes (PLI every 500 ms): each relay passes them up its
// link (coalesced) and the publisher, the load generator's WHIP source on the origin, is asked.
test('keyframe requests travel up two relays to the WHIP publisher', { skip }, async (t) => {
  const whip = spawn(loadBin, ['source', '--whip', `${nodes.origin.httpBase}/whip/2`, '--token', 'whipsecret',
    '--duration', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  whip.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => whip.on('exit', (code) => resolve(code)));
  try {
    await waitFor('the WHIP source to publish', () => err.includes('publishing to'), 10000);
    const r = await runLoad(viewersArgs(nodes['relay-3'], '--watch', '{"request":"watch","id":2}', '--viewers', '2',
      '--pli-every-ms', '500', '--duration', '5', '--setup-timeout', '20', '--json'), 60000);
    assert.equal(r.code, 0, `odeon-load viewers failed (exit ${r.code}):\n${r.out}\n${r.err}`);
    const v0 = viewerLines(r.out).find((v) => v.viewer === 0);
    assert.ok(v0.plis_sent >= 8, JSON.stringify(v0));
    const down = async (id, to) => (await listNodes(nodes[id])).node.links
      .find((l) => l.direction === 'down' && l.node === to && l.stage === 2);
    const toRelay3 = await down('relay-1', 'relay-3');
    const toRelay1 = await down('origin', 'relay-1');
    t.diagnostic(`relay-1 -> relay-3 plis ${toRelay3 && toRelay3.plis}, origin -> relay-1 plis ${toRelay1 && toRelay1.plis}`);
    assert.ok(toRelay3 && toRelay3.plis >= 4, JSON.stringify(toRelay3));
    assert.ok(toRelay1 && toRelay1.plis >= 4, JSON.stringify(toRelay1));
  } finally {
    whip.kill('SIGTERM');
  }
  assert.equal(await exited, 0, err);
  const asked = Number((err.match(/(\d+) keyframe requests from the server/) || [])[1]);
  t.diagnostic(`the WHIP source was asked for ${asked} keyframes`);
  assert.ok(asked >= 4, err);
});

// The origin restarts (SIGKILL, then the same ports again): the relays subscribe again and
// their viewers keep their sessions, media resuming after the gap.
test('an origin restart: relays resubscribe and their viewers keep their sessions', { skip }, async (t) => {
  const run = runLoad(viewersArgs(nodes['relay-1'], '--viewers', '3', '--decode', '3', '--duration', '12',
    '--setup-timeout', '20', '--json'), 90000);
  await waitFor('viewers on relay-1', async () => (await listNodes(nodes['relay-1'])).node.viewers >= 3, 15000);
  await sleep(1500);
  const old = nodes.origin;
  old.proc.kill('SIGKILL');
  await sleep(500);
  nodes.origin = await startServer({
    plugins: ['stage'], pluginsConfigDir: confDir, media: { ipv6: false }, sqlDir: SQL_DIR,
    ports: old.ports,
    extraConfig: () => clusterConfig('origin', 'origin', null)(old.ports),
  });
  old.cleanup();
  const r = await run;
  t.diagnostic(r.out.split('\n').filter((l) => l.startsWith('|')).join('\n'));
  assert.equal(r.code, 0, `odeon-load viewers failed (exit ${r.code}):\n${r.out}\n${r.err}`);
  const sum = summaryOf(r.out);
  assert.equal(sum.ok, 3);
  const links = (await listNodes(nodes['relay-1'])).node.links;
  const up = links.find((l) => l.direction === 'up');
  t.diagnostic(JSON.stringify(up));
  assert.ok(up && up.state === 'up' && up.resubscriptions >= 1, JSON.stringify(links));
  for (const v of viewerLines(r.out)) assert.ok(v.max_gap_ms < 8000, JSON.stringify(v));
});

/** A signed node-to-node request as a relay would make it. */
function sign(method, pathname, body, nodeId = 'relay-x', secret = SECRET, ts = Math.floor(Date.now() / 1000)) {
  const bodyHash = crypto.createHash('sha256').update(body || '').digest('hex');
  const sig = crypto.createHmac('sha256', secret)
    .update(`${method}\n${pathname}\n${ts}\n${nodeId}\n${bodyHash}`).digest('hex');
  return `OdeonNode id=${nodeId}, ts=${ts}, sig=${sig}`;
}

function subscription(nodeId, pathIds = []) {
  return JSON.stringify({
    link: crypto.randomBytes(16).toString('hex'), node: nodeId, path: pathIds,
    address: '127.0.0.1', port: 9, nonce: crypto.randomBytes(16).toString('hex'),
  });
}

test('node-to-node requests without the secret, from itself, or in a loop are refused', { skip }, async () => {
  const url = `${nodes.origin.httpBase}/odeon/relay/1`;
  const post = (headers, body) => fetch(url, { method: 'POST', headers, body });
  let res = await post({}, subscription('relay-x'));
  assert.equal(res.status, 401);
  assert.match((await res.json()).error, /missing node authorization/);
  const body = subscription('relay-x');
  res = await post({ Authorization: sign('POST', '/odeon/relay/1', body, 'relay-x', 'not-the-secret-at-all') }, body);
  assert.equal(res.status, 401);
  assert.match((await res.json()).error, /bad node signature/);
  res = await post({ Authorization: sign('POST', '/odeon/relay/1', body, 'relay-x', SECRET, 1000) }, body);
  assert.equal(res.status, 401);
  assert.match((await res.json()).error, /expired/);
  // A node subscribing to itself.
  const self = subscription('origin');
  res = await post({ Authorization: sign('POST', '/odeon/relay/1', self, 'origin') }, self);
  assert.equal(res.status, 508);
  assert.match((await res.json()).error, /loop/);
  // A chain that already went through the origin.
  const loop = subscription('relay-x', ['origin', 'relay-y']);
  res = await post({ Authorization: sign('POST', '/odeon/relay/1', loop) }, loop);
  assert.equal(res.status, 508);
  // A loop through relays: relay-2 asking relay-3 for a stage relay-3 would fetch via relay-1
  // is fine, but relay-3 asked on behalf of a path containing relay-3 is not.
  const viaRelay = subscription('relay-x', ['relay-3']);
  res = await fetch(`${nodes['relay-3'].httpBase}/odeon/relay/7`, {
    method: 'POST', headers: { Authorization: sign('POST', '/odeon/relay/7', viaRelay) }, body: viaRelay,
  });
  assert.equal(res.status, 508);
  // The body's node must be the signer.
  const other = subscription('relay-z');
  res = await post({ Authorization: sign('POST', '/odeon/relay/1', other, 'relay-x') }, other);
  assert.equal(res.status, 400);
  // No such stage anywhere.
  const missing = subscription('relay-x');
  res = await fetch(`${nodes['relay-3'].httpBase}/odeon/relay/99`, {
    method: 'POST', headers: { Authorization: sign('POST', '/odeon/relay/99', missing) }, body: missing,
  });
  assert.equal(res.status, 404);
  assert.match((await res.json()).error, /no such stage/);
});

test('a relay configured with itself as upstream does not start', { skip }, async () => {
  const [http] = await freePorts(1);
  await assert.rejects(startServer({
    plugins: ['stage'], pluginsConfigDir: relayConfDir, sqlDir: SQL_DIR,
    extraArgs: ['--port', String(http)],
    extraConfig: () => ['[cluster]', 'role = relay', 'node_id = selfish', `public_url = http://127.0.0.1:${http}`,
      `upstream = http://127.0.0.1:${http}/`, `secret = ${SECRET}`, ''].join('\n'),
  }), /points at this node itself/);
});
