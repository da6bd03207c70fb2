// A throwaway PostgreSQL for integration tests (scripts/pg): one cluster per test run, reached
// on a Unix socket only, and a fresh database per caller. scripts/test starts the cluster once
// and passes its folder in ODEON_TEST_PG_DIR; a test file run on its own starts (and at exit
// stops) one of its own.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = process.env.ODEON_SRCDIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const pgScript = path.join(root, 'scripts/pg');

let ownDir = null;

function clusterDir() {
  if (process.env.ODEON_TEST_PG_DIR) return process.env.ODEON_TEST_PG_DIR;
  if (!ownDir) {
    ownDir = fs.mkdtempSync(path.join(os.tmpdir(), 'odeon-pg-'));
    execFileSync(pgScript, ['start', ownDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    // At process exit, not in an after() hook: a hook registered from inside another hook
    // would run when that one's test ends, while other tests still use the cluster.
    const dir = ownDir;
    process.on('exit', () => execFileSync(pgScript, ['destroy', dir], { stdio: 'ignore' }));
  }
  return ownDir;
}

let counter = 0;

/** A new empty database: its libpq conninfo string. */
export function createDatabase(prefix = 'odeon_test') {
  const name = `${prefix}_${process.pid}_${Date.now()}_${counter++}`;
  const out = execFileSync(pgScript, ['createdb', clusterDir(), name], { encoding: 'utf8' });
  return out.trim();
}

/** Runs SQL through psql on the database of conninfo; returns psql's unaligned output. */
export function psql(conninfo, sql) {
  return execFileSync('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql, conninfo],
    { encoding: 'utf8' }).trim();
}

/** Where the SQL migrations are (sql/). */
export const SQL_DIR = path.join(root, 'sql');
