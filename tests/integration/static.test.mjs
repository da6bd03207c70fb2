// Static html served on the API port (Odeon only: Janus has no web server for files).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ODEON_ONLY, isJanus, makeTempDir, useServer } from './harness.mjs';
import { rawRequest } from './client.mjs';

const MARKER = `odeon-static-test-${process.pid}`;

describe('static html', { skip: ODEON_ONLY }, () => {
  let htmlDir;
  if (!isJanus) {
    htmlDir = makeTempDir('odeon-html-');
    fs.writeFileSync(path.join(htmlDir, 'index.html'), `<!doctype html><title>${MARKER}</title><p>${MARKER}</p>\n`);
    fs.writeFileSync(path.join(htmlDir, 'app.js'), `console.log(${JSON.stringify(MARKER)});\n`);
    fs.writeFileSync(path.join(htmlDir, 'style.css'), 'body { color: black; }\n');
    fs.mkdirSync(path.join(htmlDir, 'sub'));
    fs.writeFileSync(path.join(htmlDir, 'sub', 'index.html'), `<p>sub ${MARKER}</p>\n`);
    after(() => fs.rmSync(htmlDir, { recursive: true, force: true }));
  }
  const srv = useServer({ htmlDir });

  test('GET / returns index.html as text/html', async () => {
    const r = await rawRequest(`${srv.server.httpBase}/`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.ok(r.text.includes(MARKER), r.text.slice(0, 200));
  });

  test('GET /index.html and other files with their content types', async () => {
    const html = await rawRequest(`${srv.server.httpBase}/index.html`);
    assert.equal(html.status, 200);
    assert.ok(html.text.includes(MARKER));
    const js = await rawRequest(`${srv.server.httpBase}/app.js`);
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    const css = await rawRequest(`${srv.server.httpBase}/style.css`);
    assert.equal(css.status, 200);
    assert.match(String(css.headers['content-type']), /^text\/css/);
  });

  test('a missing file gives 404', async () => {
    const r = await rawRequest(`${srv.server.httpBase}/no-such-file.html`);
    assert.equal(r.status, 404);
  });

  test('path traversal does not escape the html folder', async () => {
    for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/sub/../../../../etc/passwd', '/..%2f..%2f..%2fetc%2fpasswd']) {
      const r = await rawRequest(`${srv.server.httpBase}${p}`);
      assert.ok(!r.text.includes('root:'), `traversal via ${p} returned /etc/passwd`);
      assert.ok(r.status >= 400 || r.text.includes(MARKER), `unexpected reply for ${p}: ${r.status}`);
    }
  });

  test('the Janus API still answers on the same port', async () => {
    const r = await rawRequest(`${srv.server.httpUrl}/info`);
    assert.equal(r.status, 200);
    assert.equal(r.json.janus, 'server_info');
  });
});
