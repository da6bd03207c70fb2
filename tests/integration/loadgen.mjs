// The load generator (tests/load/odeon-load) as the integration tests use it: where its binary
// is, and running it to completion with a deadline.

import { spawn } from 'node:child_process';
import path from 'node:path';

export const loadBin = process.env.ODEON_LOAD_BIN ||
  (process.env.ODEON_BIN ? path.resolve(path.dirname(process.env.ODEON_BIN), '../tests/load/odeon-load') : '');

/** Runs odeon-load with args; resolves with its exit code or signal and its output. */
export function runLoad(args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(loadBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

/** Starts the test source (odeon-load source args...): kill it with SIGTERM when done. */
export function startSource(args) {
  return spawn(loadBin, ['source', ...args], { stdio: 'ignore' });
}
