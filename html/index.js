// index.js - the landing page: shows the server's info and talks to the echotest plugin.
'use strict';

(async function main() {
  const status = document.getElementById('status');
  const logList = document.getElementById('log');
  const log = (text, kind = 'ok') => {
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    logList.prepend(li);
  };

  let session;
  try {
    session = await Odeon.connect(Odeon.defaultUrl());
  } catch (e) {
    status.textContent = `Cannot reach the server: ${e.message}`;
    status.dataset.state = 'error';
    return;
  }
  status.textContent = `Connected, session ${session.id}`;
  status.dataset.state = 'connected';
  session.on('closed', () => {
    status.textContent = 'Disconnected';
    status.dataset.state = 'error';
  });

  const info = await session.info();
  const dl = document.getElementById('info');
  for (const [k, v] of [['Server', `${info.name} ${info.version_string}`],
                        ['Name', info['server-name']],
                        ['Plugins', Object.keys(info.plugins).join(', ') || 'none'],
                        ['Session timeout', `${info['session-timeout']} s`]]) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }

  const echo = await session.attach('odeon.plugin.echotest');
  log(`attached echotest, handle ${echo.id}`);
  const ping = document.getElementById('ping');
  const configure = document.getElementById('configure');
  ping.disabled = configure.disabled = false;

  ping.addEventListener('click', async () => {
    const t0 = performance.now();
    const data = await echo.request({ request: 'ping' });
    log(`${JSON.stringify(data)} in ${(performance.now() - t0).toFixed(1)} ms`);
  });
  configure.addEventListener('click', async () => {
    const body = {
      audio: document.getElementById('audio').checked,
      video: document.getElementById('video').checked,
      bitrate: Number(document.getElementById('bitrate').value) || 0,
    };
    try {
      const data = await echo.request(body);
      log(`configure ${JSON.stringify(body)} -> ${JSON.stringify(data)}`,
          data.error ? 'error' : 'ok');
    } catch (e) {
      log(`configure failed: ${e.message}`, 'error');
    }
  });
})();
