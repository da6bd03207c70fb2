// The event bus and event handler modules (Odeon only): the jsonlog handler receives core,
// session, handle and plugin events, off the request path.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ECHOTEST, ODEON_ONLY, isJanus, makeTempDir, sleep, withServer } from './harness.mjs';
import { httpAttach, httpCreateSession, postOk, tx } from './client.mjs';

function readEvents(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

async function waitForEvents(file, predicate, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = readEvents(file);
    if (predicate(events)) return events;
    if (Date.now() > deadline) return events;
    await sleep(50);
  }
}

describe('event handlers', { skip: ODEON_ONLY }, () => {
  let confDir;
  if (!isJanus) {
    confDir = makeTempDir('odeon-evh-');
    after(() => fs.rmSync(confDir, { recursive: true, force: true }));
  }

  test('jsonlog receives core, session, handle and plugin events', async () => {
    const file = path.join(confDir, 'events.jsonl');
    fs.writeFileSync(path.join(confDir, 'jsonlog.conf'), '[general]\nfile = events.jsonl\n');
    fs.writeFileSync(path.join(confDir, 'echotest.conf'), '[general]\nevents = true\n');
    let sessionId;
    let handleId;
    await withServer({ pluginsConfigDir: confDir, extraConfig: '[events]\nhandlers = jsonlog\n' },
      async (server) => {
        sessionId = await httpCreateSession(server);
        handleId = await httpAttach(server, sessionId, ECHOTEST);
        const ack = await postOk(server, `/${sessionId}/${handleId}`,
          { janus: 'message', transaction: tx(), body: { audio: false } });
        assert.equal(ack.janus, 'ack');
        const events = await waitForEvents(file, (evs) => evs.some((e) => e.type === 64));
        const types = new Set(events.map((e) => e.type));
        for (const t of [256, 1, 2, 64]) assert.ok(types.has(t), `type ${t} in ${[...types]}`);
        const created = events.find((e) => e.type === 1 && e.event.name === 'created');
        assert.equal(created.session_id, sessionId);
        assert.equal(created.event.transport, 'http');
        assert.equal(created.emitter, 'odeon');
        assert.ok(Number.isInteger(created.timestamp));
        const attached = events.find((e) => e.type === 2 && e.event.name === 'attached');
        assert.equal(attached.handle_id, handleId);
        assert.equal(attached.event.plugin, ECHOTEST);
        const plugin = events.find((e) => e.type === 64);
        assert.equal(plugin.event.plugin, ECHOTEST);
        assert.equal(plugin.event.data.settings.audio, false);
        const info = await postOk(server, '', { janus: 'info', transaction: tx() });
        assert.ok(info.events['odeon.eventhandler.jsonlog'], JSON.stringify(info.events));
      });
    // After a graceful stop the log ends with the shutdown: the session destroyed, then the
    // handler unloaded last, so nothing was lost.
    const events = readEvents(file);
    assert.ok(events.some((e) => e.type === 256 && e.event.status === 'shutdown'));
    const destroyed = events.find((e) => e.type === 1 && e.event.name === 'destroyed');
    assert.equal(destroyed.session_id, sessionId);
    assert.equal(destroyed.event.reason, 'shutdown');
  });

  test('a missing handler module stops start-up with a clear error', async () => {
    const { runOdeon, odeonConfig, freePorts } = await import('./harness.mjs');
    const [http, admin] = await freePorts(2);
    const conf = path.join(confDir, 'bad.conf');
    fs.writeFileSync(conf, odeonConfig({ extraConfig: '[events]\nhandlers = nosuchhandler\n' },
      { http, admin }));
    const args = ['--config', conf];
    if (process.env.ODEON_PLUGINS_DIR) args.push('--plugins-dir', process.env.ODEON_PLUGINS_DIR);
    const r = await runOdeon(args);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /odeon_evh_nosuchhandler\.so/);
  });
});
