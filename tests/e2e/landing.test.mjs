// The landing page in a real browser: html/index.html, served by Odeon on the API port,
// connects over WebSocket with html/odeon.js, shows the server's info and talks to echotest.

import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startServer } from '../integration/harness.mjs';
import { adminPost } from '../integration/client.mjs';
import { chromiumMissing, openPage } from './browser.mjs';

const htmlDir = process.env.ODEON_HTML_DIR ||
  path.join(process.env.ODEON_SRCDIR || path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'), 'html');

describe('landing page', { skip: chromiumMissing() }, () => {
  let server;
  let browser;
  let page;
  let consoleErrors;

  before(async () => {
    server = await startServer({ htmlDir });
    ({ browser, page, consoleErrors } = await openPage(`${server.httpBase}/`));
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
  });

  test('connects and shows the server info', async () => {
    await page.waitForSelector('#status[data-state="connected"]', { timeout: 10000 });
    assert.match(await page.textContent('#status'), /Connected, session \d+/);
    const info = await page.textContent('#info');
    assert.match(info, /Odeon/);
    assert.match(info, /odeon\.plugin\.echotest/);
  });

  test('ping answers synchronously through the echotest plugin', async () => {
    await page.waitForSelector('#ping:not([disabled])');
    await page.click('#ping');
    await page.waitForSelector('#log li:has-text("pong")', { timeout: 5000 });
  });

  test('configure is acknowledged and answered by an event', async () => {
    await page.uncheck('#video');
    await page.fill('#bitrate', '256000');
    await page.click('#configure');
    const item = await page.waitForSelector('#log li:has-text("configure")', { timeout: 5000 });
    assert.match(await item.textContent(), /"result":"ok"/);
    // The server applied it: the admin API sees the handle's new settings.
    const sessions = (await adminPost(server, { janus: 'list_sessions' })).json;
    assert.equal(sessions.sessions.length, 1);
    const sid = sessions.sessions[0];
    const handles = (await adminPost(server, { janus: 'list_handles', session_id: sid })).json;
    const infoReply = (await adminPost(server,
      { janus: 'handle_info', session_id: sid, handle_id: handles.handles[0] })).json;
    assert.equal(infoReply.info.plugin_specific.video, false);
    assert.equal(infoReply.info.plugin_specific.bitrate, 256000);
  });

  test('the page logged no errors', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
