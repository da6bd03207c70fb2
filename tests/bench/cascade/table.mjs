// The cascade benchmark's figures (tests/bench/cascade/run; README.md there).
//
//   node table.mjs --record RUNDIR     one JSON record (a line) from a run's raw files
//   node table.mjs --line RECORD       a one-line summary of a record, for the log
//   node table.mjs RESULTS.jsonl       the markdown tables over the records (min/median/max
//                                      over the runs of each setup)
//
// A run's folder holds meta.json (what the script measured: CPU ticks per process over the
// window, the window's length, UDP drops), viewers.out (odeon-load viewers --json: a line per
// viewer and the summary), viewers.err, source.json, list_nodes.<node>.json (the admin API's
// view of each node near the end of the window: its links) and rss.txt.

import fs from 'node:fs';
import path from 'node:path';

const RELAYS = ['relay-1', 'relay-2', 'relay-3', 'relay-4'];

/** Hops from the source's node: 0 the origin (or the single node), 1 a relay, 2 relay-4 when
 * it pulls from relay-1. */
function depthOf(rec, node) {
  if (node === 'entry' || node === 'origin' || node === 'single') return 0;
  return rec.depth2 && node === 'relay-4' ? 2 : 1;
}

function readLines(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  } catch {
    return [];
  }
}

function parse(line) {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

function median(a) {
  const s = a.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function quantile(sorted, q) {
  return sorted.length ? sorted[Math.round(q * (sorted.length - 1))] : NaN;
}

/** One run's record from its raw files. */
function record(dir) {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
  const lines = readLines(path.join(dir, 'viewers.out')).map(parse).filter(Boolean);
  const sum = lines.find((l) => l.summary) || {};
  const viewers = lines.filter((l) => l.viewer !== undefined);
  const src = readLines(path.join(dir, 'source.json')).map(parse).find((l) => l && l.source) || {};
  const srcFps = src.seconds > 0 ? src.frames / src.seconds : NaN;
  const windowS = meta.window_ns / 1e9;
  const rec = {
    setup: meta.setup, run: meta.run, viewers_n: meta.viewers_n, rc: meta.rc, measured: meta.measured,
    ok_at_window: meta.ok_at_window, ok: sum.ok ?? 0, loadavg: meta.loadavg, window_s: windowS,
    udp_rcvbuf_errors: meta.udp_rcvbuf_errors, kbps: meta.kbps, fps: meta.fps, width: meta.width,
    height: meta.height, audio: meta.audio, loops: meta.loops, relay_capacity: meta.relay_capacity,
    depth2: meta.depth2,
    source_fps: srcFps, source_video_kbps: src.video_kbps ?? NaN,
    source_pps: src.seconds > 0 ? (src.video_packets + src.audio_packets) / src.seconds : NaN,
    join_ms_p50: sum.join_ms_p50, join_ms_p95: sum.join_ms_p95, join_ms_max: sum.join_ms_max,
    lost: sum.lost, loss_pct: sum.loss_pct, lost_per_viewer_max: sum.lost_per_viewer_max,
    window_pps: sum.window_pps, auth_failures: sum.auth_failures,
    decoders: sum.decoders, checksums_agree: sum.checksums_agree, compared_frames: sum.compared_frames,
    nodes: sum.nodes || {}, frame_delay_ms: sum.frame_delay_ms || null,
    frame_delay_pairs_ms: sum.frame_delay_pairs_ms || null, source_latency_ms: sum.source_latency_ms || null,
    frame_delay_ref_frames: sum.frame_delay_ref_frames ?? 0, source_frames: sum.source_frames ?? 0,
    max_gap_ms: sum.max_gap_ms_no_failover,
    max_video_gap_ms: sum.max_video_gap_ms, min_delivered_pct: NaN, med_delivered_pct: NaN,
    full_rate: 0, errors: [],
  };
  // per viewer: delivered frame rate in the window as a share of what the source sent
  const deliv = [];
  const pps = {};
  const okPerNode = {};
  for (const v of viewers) {
    if (!v.ok) continue;
    const pct = srcFps > 0 ? (100 * v.window_video_fps) / srcFps : NaN;
    deliv.push(pct);
    if (pct >= 90) rec.full_rate++;
    pps[v.node] = (pps[v.node] || 0) + v.window_pps;
    okPerNode[v.node] = (okPerNode[v.node] || 0) + 1;
  }
  deliv.sort((x, y) => x - y);
  // the decoders: where they were served, whether among the first or the last to join, and
  // their own frame delay (against the origin's viewers) and latency from the source
  rec.decoder = viewers.filter((v) => v.decode && v.source_latency_ms).map((v) => ({
    viewer: v.viewer, node: v.node, ok: v.ok,
    group: v.viewer < (meta.decode_first ?? 0) ? 'first' : 'last',
    delay_p50: v.frame_delay_ms.p50, delay_p95: v.frame_delay_ms.p95,
    src_p50: v.source_latency_ms.p50, src_p95: v.source_latency_ms.p95, frames: v.source_latency_ms.frames,
  }));
  rec.latency = {};
  for (const d of rec.decoder) {
    if (!d.ok || !(d.frames > 0)) continue;
    const k = `${depthOf(rec, d.node)}|${d.group}`;
    (rec.latency[k] ||= { p50s: [], p95s: [] });
    rec.latency[k].p50s.push(d.src_p50);
    rec.latency[k].p95s.push(d.src_p95);
  }
  for (const x of Object.values(rec.latency)) {
    x.n = x.p50s.length;
    x.p50 = median(x.p50s);
    x.p95 = median(x.p95s);
    delete x.p50s;
    delete x.p95s;
  }
  rec.min_delivered_pct = deliv.length ? deliv[0] : NaN;
  rec.med_delivered_pct = median(deliv);
  rec.p05_delivered_pct = quantile(deliv, 0.05);
  // the first error of each stage, as odeon-load printed them
  rec.errors = readLines(path.join(dir, 'viewers.err')).filter((l) => /viewers stopped at stage/.test(l))
    .map((l) => l.replace(/^odeon-load: /, ''));
  // CPU: % of a core over the window, per process; per delivered packet for the servers. The
  // entry node ("entry": the origin, or the single node) also serves the viewers sent back to
  // it by name ("origin").
  const tck = meta.clk_tck;
  rec.cpu_pct = {};
  for (const [name, ticks] of Object.entries(meta.cpu)) {
    rec.cpu_pct[name] = windowS > 0 ? (100 * ticks / tck) / windowS : NaN;
  }
  const servers = Object.keys(meta.cpu).filter((n) => !['load', 'source', 'machine'].includes(n));
  // the whole machine's busy time (every CPU) over the window, and what of it was not ours:
  // PostgreSQL, the kernel's softirq work charged to no process, anything else running
  const ours = Object.entries(rec.cpu_pct).filter(([n]) => n !== 'machine').reduce((a, [, x]) => a + x, 0);
  rec.machine_busy_pct = rec.cpu_pct.machine ?? NaN;
  rec.other_cpu_pct = rec.machine_busy_pct - ours;
  rec.server_cpu_pct = servers.reduce((a, n) => a + rec.cpu_pct[n], 0);
  const allPps = Object.values(pps).reduce((a, x) => a + x, 0);
  rec.us_per_packet = allPps > 0 ? (rec.server_cpu_pct / 100) * 1e6 / allPps : NaN;
  rec.loadgen_us_per_packet = allPps > 0 ? (rec.cpu_pct.load / 100) * 1e6 / allPps : NaN;
  rec.node = {};
  for (const n of servers) {
    const served = n === 'origin' || n === 'single' ? ['entry', 'origin'] : [n];
    const p = served.reduce((a, k) => a + (pps[k] || 0), 0);
    const okn = served.reduce((a, k) => a + (okPerNode[k] || 0), 0);
    const ln = parse(readLines(path.join(dir, `list_nodes.${n}.json`)).join('')) || {};
    const links = (ln.node && ln.node.links) || [];
    const up = links.filter((l) => l.direction === 'up');
    const down = links.filter((l) => l.direction === 'down');
    rec.node[n] = {
      cpu_pct: rec.cpu_pct[n], viewers: okn, pps: p,
      us_per_packet: p > 0 ? (rec.cpu_pct[n] / 100) * 1e6 / p : NaN,
      reported_viewers: ln.node ? ln.node.viewers : null,
      uplink: up.length ? {
        node: up.map((l) => l.node).join(','), state: up.map((l) => l.state).join(','),
        packets: up.reduce((a, l) => a + l.packets, 0), lost: up.reduce((a, l) => a + l.lost, 0),
        repaired: up.reduce((a, l) => a + l.repaired, 0), nacks: up.reduce((a, l) => a + l.nacks, 0),
        resubscriptions: up.reduce((a, l) => a + l.resubscriptions, 0),
      } : null,
      downlinks: down.map((l) => ({ node: l.node, packets: l.packets, retransmits: l.retransmits,
        nacks: l.nacks, plis: l.plis, dropped: l.dropped })),
    };
  }
  const rss = readLines(path.join(dir, 'rss.txt')).map((l) => l.split(' '));
  for (const [, n, kb] of rss) if (rec.node[n]) rec.node[n].rss_kb = Number(kb);
  return rec;
}

const f1 = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');
function mmm(recs, fn, d = 1) {
  const a = recs.map(fn).filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (!a.length) return '-';
  if (a.length === 1) return f1(a[0], d);
  return `${f1(a[0], d)} / ${f1(median(a), d)} / ${f1(a[a.length - 1], d)}`;
}
const med = (recs, fn) => median(recs.map(fn));
const pair = (p50, p95) => (Number.isFinite(p50) ? `${f1(p50)} / ${f1(p95)}` : '-');

/** A frame delay of odeon-load's summary: node against the entry node, or against ref. */
function delay(rec, node, q, ref) {
  const d = ref ? rec.frame_delay_pairs_ms && rec.frame_delay_pairs_ms[node] && rec.frame_delay_pairs_ms[node][ref]
    : rec.frame_delay_ms && rec.frame_delay_ms[node];
  return d && d.frames > 0 ? d[q] : NaN;
}
function lat(rec, depth, group, q) {
  const x = rec.latency && rec.latency[`${depth}|${group}`];
  return x ? x[q] : NaN;
}
/** The median over a run's ok decoders that match (node filter, group) of one of their figures. */
function decMed(rec, match, group, field) {
  return median((rec.decoder || []).filter((d) => d.ok && d.frames > 0 && d.group === group && match(d))
    .map((d) => d[field]));
}
const atDepth = (rec, depth) => (d) => depthOf(rec, d.node) === depth;
const onNode = (node) => (d) => d.node === node;
/** Added by the first hop: first joiners at a depth against the earliest decoder on the origin. */
function added(rs, depth) {
  return pair(med(rs, (r) => decMed(r, atDepth(r, depth), 'first', 'delay_p50')),
    med(rs, (r) => decMed(r, atDepth(r, depth), 'first', 'delay_p95')));
}
/** Added by the second relay: relay-4's first joiners minus relay-1's, latency from the source. */
function secondHop(rs, q) {
  return med(rs, (r) => decMed(r, onNode('relay-4'), 'first', q) - decMed(r, onNode('relay-1'), 'first', q));
}
function latCell(rs, depth, group) {
  return pair(med(rs, (r) => lat(r, depth, group, 'p50')), med(rs, (r) => lat(r, depth, group, 'p95')));
}

function line(rec) {
  const nodes = Object.entries(rec.node).map(([n, x]) => `${n} ${f1(x.cpu_pct, 0)}%`).join(', ');
  const lt = Object.entries(rec.latency || {}).sort().map(([k, x]) => `${k.replace('|', ' ')} ${f1(x.p50)}/${f1(x.p95)}`).join(', ');
  return `cascade: ${rec.setup} run ${rec.run}: ${rec.ok}/${rec.viewers_n} ok (${rec.full_rate} at >= 90% of the source's frames), `
    + `join p50/p95 ${f1(rec.join_ms_p50, 0)}/${f1(rec.join_ms_p95, 0)} ms, lost ${rec.lost} (${f1(rec.loss_pct, 3)}%), `
    + `delivered min/p5/med ${f1(rec.min_delivered_pct)}/${f1(rec.p05_delivered_pct)}/${f1(rec.med_delivered_pct)}%, longest gap ${f1(rec.max_gap_ms, 0)} ms, `
    + `CPU % of a core: ${nodes}, load ${f1(rec.cpu_pct.load, 0)}%, source ${f1(rec.cpu_pct.source, 0)}%, machine busy ${f1(rec.machine_busy_pct, 0)}% (others ${f1(rec.other_cpu_pct, 0)}%); `
    + `${f1(rec.us_per_packet, 2)} us server CPU per delivered packet; source->viewer ms p50/p95 by depth and joiners: ${lt || '-'}; `
    + `viewers per node ${JSON.stringify(rec.nodes)}; udp drops ${rec.udp_rcvbuf_errors}; load ${rec.loadavg}`
    + (rec.errors.length ? `; ${rec.errors.join('; ')}` : '');
}

const SETUP_NAME = { cascade: 'origin + 4 relays', single: 'one node' };

function tables(recs) {
  const out = [];
  const bySetup = {};
  for (const r of recs) (bySetup[`${r.setup}|${r.viewers_n}`] ||= []).push(r);
  const groups = Object.entries(bySetup).map(([key, rs]) => {
    const [setup, n] = key.split('|');
    const m = rs.filter((r) => r.measured);
    return { setup, n: Number(n), rs, m, use: m.length ? m : rs };
  });
  out.push('Delivery and CPU (medians over the runs; µs per packet min / median / max):');
  out.push('');
  out.push('| setup | viewers | runs measured | ok: receiving media | at >= 90% of the source frame rate | join ms p50 / p95 | lost packets (%) | delivered frames, % of the source: min / median | longest gap in the window, ms | server CPU, % of a core (all nodes) | load generator CPU, % of a core | machine busy, % of a core (not ours) | server CPU µs per delivered packet | server CPU per viewer, % of a core |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { setup, n, rs, m, use } of groups) {
    out.push(`| ${SETUP_NAME[setup] || setup} | ${int(n)} | ${m.length}/${rs.length} `
      + `| ${rs.map((r) => int(r.ok)).join(', ')} (${f1(100 * med(use, (r) => r.ok / r.viewers_n))}%) `
      + `| ${int(med(use, (r) => r.full_rate))} `
      + `| ${int(med(use, (r) => r.join_ms_p50))} / ${int(med(use, (r) => r.join_ms_p95))} `
      + `| ${int(med(use, (r) => r.lost))} (${f1(med(use, (r) => r.loss_pct), 3)}%) `
      + `| ${f1(med(use, (r) => r.min_delivered_pct))} / ${f1(med(use, (r) => r.med_delivered_pct))} `
      + `| ${int(med(use, (r) => r.max_gap_ms))} `
      + `| ${f1(med(use, (r) => r.server_cpu_pct), 0)} | ${f1(med(use, (r) => r.cpu_pct.load), 0)} `
      + `| ${f1(med(use, (r) => r.machine_busy_pct), 0)} (${f1(med(use, (r) => r.other_cpu_pct), 0)}) `
      + `| ${mmm(use, (r) => r.us_per_packet, 2)} | ${f1(med(use, (r) => r.server_cpu_pct / r.ok), 4)} |`);
  }
  out.push('');
  out.push('Latency, ms p50 / p95 (per decoder over the window\'s frames; medians over the decoders of a group, then over the runs). From the source: the source\'s send time of a frame to the kernel receive time of its last packet at a decoder; depth 0 is the origin (or the one node), 1 a relay, 2 the relay of a relay; first joiners get each packet at the start of their node\'s fan-out, last joiners at its end. Added (first joiners): a decoder against the earliest decoder served by the origin (odeon-load\'s frame_delay_ms); by the second relay: relay-4\'s first joiners minus relay-1\'s (latency from the source, difference of the medians):');
  out.push('');
  out.push('| setup | viewers | from the source, first joiners: depth 0 | depth 1 | depth 2 | last joiners: depth 0 | depth 1 | depth 2 | added by a relay (depth 1 vs the origin\'s viewers) | added by two relays (depth 2 vs the origin\'s) | added by the second relay (relay-4 vs relay-1) |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const { setup, n, use } of groups) {
    const c = setup === 'cascade';
    const d2 = c && use[0].depth2;
    out.push(`| ${SETUP_NAME[setup] || setup} | ${int(n)} | ${latCell(use, 0, 'first')} | ${c ? latCell(use, 1, 'first') : 'n/a'} | ${d2 ? latCell(use, 2, 'first') : 'n/a'} `
      + `| ${c ? 'n/a' : latCell(use, 0, 'last')} | ${c ? latCell(use, 1, 'last') : 'n/a'} | ${d2 ? latCell(use, 2, 'last') : 'n/a'} `
      + `| ${c ? added(use, 1) : 'n/a'} | ${d2 ? added(use, 2) : 'n/a'} `
      + `| ${d2 ? pair(secondHop(use, 'src_p50'), secondHop(use, 'src_p95')) : 'n/a'} |`);
  }
  out.push('');
  out.push('Per node (each run):');
  out.push('');
  out.push('| setup | run | node | viewers served | CPU, % of a core | µs per delivered packet | RSS MiB | decoders first + last | from the source, ms p50 / p95: first joiners | last joiners | added vs the origin\'s viewers, ms p50 / p95 (all its decoders) | uplink: from, state, packets, lost, repaired, NACKs sent, resubscriptions |');
  out.push('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of recs) {
    for (const [n, x] of Object.entries(r.node)) {
      const served = n === 'origin' || n === 'single' ? ['entry', 'origin'] : [n];
      const decs = (r.decoder || []).filter((d) => served.includes(d.node) && d.ok);
      const grp = (g) => {
        const ds = decs.filter((d) => d.group === g && d.frames > 0);
        return ds.length ? pair(median(ds.map((d) => d.src_p50)), median(ds.map((d) => d.src_p95))) : '-';
      };
      const key = served[0];
      const u = x.uplink;
      out.push(`| ${r.setup} | ${r.run} | ${n} | ${int(x.viewers)} | ${f1(x.cpu_pct)} | ${f1(x.us_per_packet, 2)} | ${f1(x.rss_kb / 1024, 0)} `
        + `| ${decs.filter((d) => d.group === 'first').length} + ${decs.filter((d) => d.group === 'last').length} `
        + `| ${grp('first')} | ${grp('last')} `
        + `| ${pair(delay(r, key, 'p50'), delay(r, key, 'p95'))} `
        + `| ${u ? `${u.node}, ${u.state}, ${int(u.packets)}, ${u.lost}, ${u.repaired}, ${u.nacks}, ${u.resubscriptions}` : '-'} |`);
    }
    out.push(`| ${r.setup} | ${r.run} | load generator | ${int(r.ok)} | ${f1(r.cpu_pct.load)} | ${f1(r.loadgen_us_per_packet, 2)} | | | | | | |`);
    out.push(`| ${r.setup} | ${r.run} | source | | ${f1(r.cpu_pct.source)} | | | | | | | |`);
  }
  out.push('');
  for (const r of recs) {
    out.push(`- ${r.setup} run ${r.run}: source ${f1(r.source_fps)} fps, ${f1(r.source_video_kbps, 0)} kbit/s video, ${f1(r.source_pps)} packets/s; `
      + `viewers per node ${JSON.stringify(r.nodes)}; decoders ${r.decoders}, checksums ${r.checksums_agree ? 'agree' : 'DIFFER'} over ${r.compared_frames} frames; `
      + `${r.frame_delay_ref_frames} frames of the window decoded on the origin, ${r.source_frames} sent by the source in the window; `
      + `machine busy ${f1(r.machine_busy_pct, 0)}% of a core over the window (${f1(r.other_cpu_pct, 0)}% not the servers', load generator's or source's: PostgreSQL, unaccounted kernel work, anything else running); `
      + `kernel UDP receive-buffer drops ${r.udp_rcvbuf_errors}; SRTP auth failures ${r.auth_failures}; load average at the start ${r.loadavg}`
      + (r.errors.length ? `; ${r.errors.join('; ')}` : ''));
  }
  return out.join('\n');
}

const argv = process.argv.slice(2);
if (argv[0] === '--record') {
  process.stdout.write(`${JSON.stringify(record(argv[1]))}\n`);
} else if (argv[0] === '--line') {
  process.stdout.write(`${line(JSON.parse(argv[1]))}\n`);
} else if (argv[0]) {
  const recs = readLines(argv[0]).map(parse).filter(Boolean);
  process.stdout.write(`${tables(recs)}\n`);
} else {
  process.stderr.write('usage: node table.mjs --record RUNDIR | --line RECORD | RESULTS.jsonl\n');
  process.exit(2);
}
