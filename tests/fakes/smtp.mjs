// An SMTP sink for integration tests of the tickets plugin's mailer
// (plugins/tickets/tickets_mail.c): it accepts every message and keeps it in memory.
// Node 18+, built-ins only.
//
// Speaks EHLO/HELO (advertising AUTH PLAIN LOGIN, 8BITMIME and SIZE), AUTH PLAIN and AUTH
// LOGIN, MAIL FROM, RCPT TO, DATA (dot-unstuffed), RSET, NOOP, QUIT. With `user` set,
// authentication is required: bad credentials get 535, MAIL FROM without AUTH gets 530. There
// is no STARTTLS: curl with CURLUSESSL_TRY goes on in plain text, CURLUSESSL_ALL gives up.
//
//   const sink = await startSmtpSink({ user: 'u', password: 'p' });
//   ... smtp_url = smtp://127.0.0.1:${sink.port} ...
//   const [msg] = await sink.waitFor(1, 5000); // {from, to: [...], data, auth}
//
// As a program: node tests/fakes/smtp.mjs [--port N] [--user U --password P] prints
// "smtp://127.0.0.1:<port>", then every message it receives.

import net from 'node:net';
import { pathToFileURL } from 'node:url';

const HOSTNAME = 'fake-smtp';
const SIZE_MAX = 10 * 1024 * 1024;
const LINE_MAX = 64 * 1024; // a client sending more without a line break is not an SMTP client

/** The address inside "FROM:<a@b> SIZE=12" or "TO:<a@b>" (null when there is none). */
function pathArg(rest, keyword) {
  const m = new RegExp(`^${keyword}:\\s*<([^>]*)>`, 'i').exec(rest);
  return m ? m[1] : null;
}

function b64(s) {
  return Buffer.from(s, 'utf8').toString('base64');
}

function unb64(s) {
  return Buffer.from(s.trim(), 'base64').toString('utf8');
}

/**
 * Starts the sink on 127.0.0.1 (or host). Returns {port, messages, close(), waitFor(n,
 * timeoutMs)}; messages holds {from, to, data, auth} in arrival order (data: the message as
 * sent, CRLF line ends, dot-unstuffed, without the final "."; auth: the user name or null).
 */
export async function startSmtpSink({ user, password, port = 0, host = '127.0.0.1' } = {}) {
  const messages = [];
  const waiters = new Set();
  const sockets = new Set();

  function delivered() {
    for (const w of [...waiters]) {
      if (messages.length >= w.n) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(messages.slice());
      }
    }
  }

  function credentialsOk(u, p) {
    return !user || (u === user && p === password);
  }

  function session(socket) {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const st = { greeted: false, auth: null, from: null, to: [], data: null, pending: null };
    let buf = Buffer.alloc(0);
    const reply = (...lines) => {
      if (!socket.destroyed) socket.write(lines.map((l) => `${l}\r\n`).join(''));
    };
    const reset = () => {
      st.from = null;
      st.to = [];
      st.data = null;
    };

    // AUTH continuations: st.pending is a function taking the client's next line.
    function authPlain(b64line) {
      if (b64line === '*') return reply('501 5.7.0 Authentication cancelled');
      const [, u, p] = unb64(b64line).split('\0');
      if (!credentialsOk(u, p)) return reply('535 5.7.8 Authentication credentials invalid');
      st.auth = u || null;
      reply('235 2.7.0 Authentication successful');
    }
    function authLoginUser(b64line) {
      if (b64line === '*') return reply('501 5.7.0 Authentication cancelled');
      const u = unb64(b64line);
      st.pending = (line) => authLoginPassword(u, line);
      reply(`334 ${b64('Password:')}`);
    }
    function authLoginPassword(u, b64line) {
      if (b64line === '*') return reply('501 5.7.0 Authentication cancelled');
      if (!credentialsOk(u, unb64(b64line))) {
        return reply('535 5.7.8 Authentication credentials invalid');
      }
      st.auth = u || null;
      reply('235 2.7.0 Authentication successful');
    }

    function auth(rest) {
      if (!st.greeted) return reply('503 5.5.1 EHLO first');
      if (st.auth) return reply('503 5.5.1 Already authenticated');
      const [mech, initial] = rest.split(/\s+/);
      switch ((mech || '').toUpperCase()) {
        case 'PLAIN':
          if (initial) return authPlain(initial);
          st.pending = authPlain;
          return reply('334 ');
        case 'LOGIN':
          if (initial) return authLoginUser(initial);
          st.pending = authLoginUser;
          return reply(`334 ${b64('Username:')}`);
        default:
          return reply('504 5.5.4 Unrecognized authentication type');
      }
    }

    function command(line) {
      const sp = line.indexOf(' ');
      const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
      const rest = sp < 0 ? '' : line.slice(sp + 1).trim();
      switch (verb) {
        case 'EHLO':
          st.greeted = true;
          reset();
          return reply(
            `250-${HOSTNAME} greets ${rest || 'you'}`,
            '250-AUTH PLAIN LOGIN',
            '250-8BITMIME',
            `250-SIZE ${SIZE_MAX}`,
            '250 OK',
          );
        case 'HELO':
          st.greeted = true;
          reset();
          return reply(`250 ${HOSTNAME}`);
        case 'AUTH':
          return auth(rest);
        case 'MAIL': {
          if (!st.greeted) return reply('503 5.5.1 EHLO first');
          if (user && !st.auth) return reply('530 5.7.0 Authentication required');
          const from = pathArg(rest, 'FROM');
          if (from === null) return reply('501 5.5.4 Syntax: MAIL FROM:<address>');
          reset();
          st.from = from;
          return reply('250 2.1.0 Ok');
        }
        case 'RCPT': {
          if (st.from === null) return reply('503 5.5.1 MAIL first');
          const to = pathArg(rest, 'TO');
          if (!to) return reply('501 5.5.4 Syntax: RCPT TO:<address>');
          st.to.push(to);
          return reply('250 2.1.5 Ok');
        }
        case 'DATA':
          if (st.to.length === 0) return reply('503 5.5.1 RCPT first');
          st.data = [];
          return reply('354 End data with <CR><LF>.<CR><LF>');
        case 'RSET':
          reset();
          return reply('250 2.0.0 Ok');
        case 'NOOP':
          return reply('250 2.0.0 Ok');
        case 'QUIT':
          reply(`221 2.0.0 ${HOSTNAME} closing connection`);
          return socket.end();
        case 'STARTTLS':
          return reply('502 5.5.1 STARTTLS not available');
        default:
          return reply('500 5.5.2 Command not recognized');
      }
    }

    function dataLine(line) {
      if (line === '.') {
        const data = st.data.map((l) => `${l}\r\n`).join('');
        messages.push({ from: st.from, to: st.to.slice(), data, auth: st.auth });
        reset();
        reply(`250 2.0.0 Ok: queued as ${messages.length}`);
        delivered();
        return;
      }
      st.data.push(line.startsWith('.') ? line.slice(1) : line); // dot-unstuffing
    }

    function onLine(line) {
      if (st.data !== null) return dataLine(line);
      if (st.pending) {
        const next = st.pending;
        st.pending = null;
        return next(line.trim());
      }
      return command(line);
    }

    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let nl;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        let end = nl;
        if (end > 0 && buf[end - 1] === 0x0d) end--;
        const line = buf.subarray(0, end).toString('utf8');
        buf = buf.subarray(nl + 1);
        onLine(line);
      }
      if (buf.length > LINE_MAX) {
        reply('500 5.5.2 Line too long');
        socket.destroy();
      }
    });
    reply(`220 ${HOSTNAME} ESMTP ready`);
  }

  const server = net.createServer(session);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    port: server.address().port,
    messages,
    /** Resolves with the messages once there are at least n; rejects after timeoutMs. */
    waitFor(n, timeoutMs = 5000) {
      if (messages.length >= n) return Promise.resolve(messages.slice());
      return new Promise((resolve, reject) => {
        const w = { n, resolve };
        w.timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`smtp sink: ${messages.length} of ${n} messages after ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    close() {
      for (const w of waiters) {
        clearTimeout(w.timer);
      }
      waiters.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

// ---- as a program ----

async function main() {
  const args = process.argv.slice(2);
  const opts = {};
  for (let i = 0; i < args.length; i += 2) {
    const name = { '--port': 'port', '--user': 'user', '--password': 'password' }[args[i]];
    if (!name || args[i + 1] === undefined) {
      console.error('usage: node tests/fakes/smtp.mjs [--port N] [--user U --password P]');
      process.exit(2);
    }
    opts[name] = name === 'port' ? Number(args[i + 1]) : args[i + 1];
  }
  const sink = await startSmtpSink(opts);
  console.log(`smtp://127.0.0.1:${sink.port}`);
  const push = sink.messages.push.bind(sink.messages);
  sink.messages.push = (...msgs) => {
    for (const m of msgs) console.log(`--- from <${m.from}> to <${m.to.join('>, <')}>\n${m.data}`);
    return push(...msgs);
  };
  const stop = () => sink.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
