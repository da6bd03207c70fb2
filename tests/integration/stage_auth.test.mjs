// odeon.plugin.stage authorisation (Odeon only): creating, destroying and publishing are an
// organiser's right. Until the tickets plugin provides identities, an organiser is a session
// whose static token's subject is listed in stage.conf's [general] organisers (or a request
// carrying the admin_key); anyone else gets Streaming's 457, and a stage made by an organiser
// is listed with its state.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { ODEON_ONLY, isJanus, makeTempDir, useServer } from './harness.mjs';
import { httpAttach, httpCreateSession, httpPost, tx } from './client.mjs';

const STAGE = 'odeon.plugin.stage';
let confDir;
if (!isJanus) {
  confDir = makeTempDir('odeon-stage-auth-');
  fs.writeFileSync(path.join(confDir, 'stage.conf'), '[general]\norganisers = alice, carol\n');
  after(() => fs.rmSync(confDir, { recursive: true, force: true }));
}
const srv = useServer(isJanus ? {} : {
  plugins: ['stage'], pluginsConfigDir: confDir, tokenAuth: true,
  staticTokens: { alice: 'tok-alice', bob: 'tok-bob' },
});

async function handleFor(token) {
  const sid = await httpCreateSession(srv.server, { token });
  const hid = await httpAttach(srv.server, sid, STAGE, { token });
  return async (body) => {
    const r = await httpPost(srv.server, `/${sid}/${hid}`, { janus: 'message', transaction: tx('m'), token, body });
    assert.equal(r.json.janus, 'success', r.text);
    return r.json.plugindata.data;
  };
}

test('only organisers create and destroy stages', { skip: ODEON_ONLY }, async () => {
  const alice = await handleFor('tok-alice');
  const bob = await handleFor('tok-bob');
  const create = { request: 'create', type: 'rtp', id: 42, description: 'town hall',
    media: [{ type: 'video', mid: 'v', port: 0, pt: 96, codec: 'VP8' }] };
  let d = await bob(create);
  assert.equal(d.error_code, 457, JSON.stringify(d));
  d = await alice(create);
  assert.equal(d.streaming, 'created', JSON.stringify(d));
  d = await bob({ request: 'list' });
  assert.deepEqual(d.list.map((s) => [s.id, s.description, s.state]), [[42, 'town hall', 'idle']]);
  d = await bob({ request: 'destroy', id: 42 });
  assert.equal(d.error_code, 457, JSON.stringify(d));
  d = await alice({ request: 'destroy', id: 42 });
  assert.equal(d.destroyed, 42, JSON.stringify(d));
  d = await alice({ request: 'info', id: 42 });
  assert.equal(d.error_code, 455, JSON.stringify(d));
});
