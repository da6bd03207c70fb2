// Command line and configuration errors (Odeon only).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ODEON_ONLY, freePorts, isJanus, makeTempDir, odeonConfig, runOdeon,
} from './harness.mjs';

describe('odeon command line and configuration', { skip: ODEON_ONLY }, () => {
  let dir;
  let ports;
  const pluginArgs = () => (process.env.ODEON_PLUGINS_DIR ? ['--plugins-dir', process.env.ODEON_PLUGINS_DIR] : []);

  function writeConf(name, text) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  }

  function goodConfig(extra = {}) {
    return odeonConfig({ sessionTimeout: 60, ...extra }, ports);
  }

  function replaceKey(text, group, key, value) {
    const lines = text.split('\n');
    let current = null;
    let done = false;
    const out = lines.map((line) => {
      const g = line.match(/^\[(.+)\]\s*$/);
      if (g) current = g[1];
      if (!done && current === group && new RegExp(`^\\s*${key}\\s*=`).test(line)) {
        done = true;
        return `${key} = ${value}`;
      }
      return line;
    });
    assert.ok(done, `key [${group}] ${key} not found in the generated config`);
    return out.join('\n');
  }

  if (!isJanus) {
    dir = makeTempDir('odeon-config-test-');
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
  }

  test('setup: free ports', async () => {
    const [http, admin] = await freePorts(2);
    ports = { http, admin };
  });

  test('--version prints the version and exits 0', async () => {
    const r = await runOdeon(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /\d+\.\d+\.\d+/);
  });

  test('--help prints the usage and exits 0', async () => {
    const r = await runOdeon(['--help']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout + r.stderr;
    for (const flag of ['--config', '--port', '--admin-port', '--plugins-dir', '--check-config']) {
      assert.ok(out.includes(flag), `--help must mention ${flag}`);
    }
  });

  test('an unknown option fails with a non-zero exit code', async () => {
    const r = await runOdeon(['--no-such-option']);
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.length > 0, 'an error message is expected on stderr');
  });

  test('--check-config on a good config exits 0', async () => {
    const conf = writeConf('good.conf', goodConfig());
    const r = await runOdeon(['--config', conf, '--check-config', ...pluginArgs()]);
    assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  });

  test('--check-config on the shipped conf/odeon.conf exits 0', async (t) => {
    const src = process.env.ODEON_SRCDIR;
    const shipped = src && path.join(src, 'conf', 'odeon.conf');
    if (!shipped || !fs.existsSync(shipped)) {
      t.skip('ODEON_SRCDIR not set or conf/odeon.conf missing');
      return;
    }
    const r = await runOdeon(['--config', shipped, '--check-config', ...pluginArgs()]);
    assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  });

  for (const mode of ['--check-config', 'start']) {
    test(`[http] port = notanumber: exit code 2 naming the file, group and key (${mode})`, async () => {
      const conf = writeConf(`badport-${mode.replace(/-/g, '')}.conf`, replaceKey(goodConfig(), 'http', 'port', 'notanumber'));
      const args = ['--config', conf, ...pluginArgs()];
      if (mode === '--check-config') args.push('--check-config');
      const r = await runOdeon(args, { timeoutMs: 10000 });
      assert.equal(r.signal, null, `odeon did not exit by itself (killed by ${r.signal}); it must refuse the config`);
      assert.equal(r.code, 2, `exit code ${r.code}\nstderr: ${r.stderr}`);
      assert.ok(r.stderr.includes(conf) || r.stderr.includes(path.basename(conf)), `stderr must name the file: ${r.stderr}`);
      assert.match(r.stderr, /\bhttp\b/, `stderr must name the [http] group: ${r.stderr}`);
      assert.match(r.stderr, /\bport\b/, `stderr must name the key: ${r.stderr}`);
    });
  }

  test('a bad boolean is refused with exit code 2', async () => {
    const conf = writeConf('badbool.conf', replaceKey(goodConfig(), 'general', 'token_auth', 'maybe'));
    const r = await runOdeon(['--config', conf, '--check-config', ...pluginArgs()]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /token_auth/);
  });

  test('a missing config file is an error naming it', async () => {
    const missing = path.join(dir, 'does-not-exist.conf');
    const r = await runOdeon(['--config', missing, '--check-config']);
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes('does-not-exist.conf'), r.stderr);
  });

  test('an unknown plugin in [plugins] enabled fails clearly', async () => {
    const conf = writeConf('badplugin.conf', replaceKey(goodConfig(), 'plugins', 'enabled', 'echotest,nosuchplugin'));
    const r = await runOdeon(['--config', conf, '--port', String(ports.http), '--admin-port', String(ports.admin), ...pluginArgs()],
      { timeoutMs: 10000 });
    assert.equal(r.signal, null, 'odeon must exit by itself when a plugin cannot be loaded');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nosuchplugin/);
  });

  test('an enabled admin API without a secret is refused', async () => {
    const conf = writeConf('nosecret.conf', replaceKey(goodConfig(), 'admin', 'secret', ''));
    const r = await runOdeon(['--config', conf, '--check-config', ...pluginArgs()]);
    assert.notEqual(r.code, 0, 'the server refuses to start without an admin secret');
    assert.match(r.stderr, /secret/);
  });
});
