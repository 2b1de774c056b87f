import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { databaseAddress, maskedDatabaseUrl } from './data-source.js';
import { sqlStateOf } from './database-errors.js';
import { messageOf } from '../errors/error-message.js';

const RETRY_EVERY_MS = 1000;

/**
 * Before the application starts: waits until PostgreSQL accepts a connection, logging each failed try as
 * one line at once. A database that does not exist yet is created (a fresh machine's first start). Gives up
 * at the deadline, or at once when retrying cannot help (the database cannot be created, the credentials
 * are refused), with one line that names the URL (password masked) or the database, and what to do.
 */
export async function waitForDatabase(databaseUrl: string, timeoutMs: number, log: Logger): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const address = databaseAddress(databaseUrl);
  let creationTried = false;
  for (let attempt = 1; ; attempt += 1) {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      if (attempt > 1) log.info({ msg: `database available at ${address}`, dependency: 'database' });
      return true;
    } catch (error) {
      const reason = messageOf(error);
      const sqlState = sqlStateOf(error);
      if (sqlState === '3D000' && !creationTried) {
        creationTried = true;
        const refusal = await createDatabase(databaseUrl, log);
        if (refusal === undefined) continue;
        log.fatal({ msg: refusal, dependency: 'database', attempts: attempt });
        return false;
      }
      const hopeless = sqlState === '3D000' || sqlState?.startsWith('28') === true;
      if (hopeless || Date.now() + RETRY_EVERY_MS > deadline) {
        log.fatal({
          msg:
            `cannot connect to PostgreSQL at ${maskedDatabaseUrl(databaseUrl)}: ${reason}. Check DATABASE_URL ` +
            '(host, port, database name, user and password) and that the server is running and accepts connections.',
          dependency: 'database',
          attempts: attempt,
        });
        return false;
      }
      log.warn({
        msg: `database unavailable at ${address}, retrying`,
        dependency: 'database',
        attempt,
        reason,
      });
      await sleep(RETRY_EVERY_MS);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * A CREATE DATABASE that found the database there (42P04), or lost a race with another process creating it
 * at the same moment: PostgreSQL then reports pg_database's unique index (23505), as tried on 15.
 */
const ALREADY_CREATED = ['42P04', '23505'];

/**
 * Creates the database a DATABASE_URL names, connected to the same server's `postgres` maintenance database
 * with the same credentials (as `createdb` does). Another process starting at the same moment may create it
 * first: then it exists, which is all that was wanted. Answers undefined when the database exists now,
 * otherwise the one line to stop with: which database, why, and what to do.
 */
async function createDatabase(databaseUrl: string, log: Logger): Promise<string | undefined> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  const user = decodeURIComponent(url.username);
  const server = `${url.hostname}:${url.port || '5432'}`;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    log.info({ msg: `created database ${name} at ${server}`, dependency: 'database' });
    return undefined;
  } catch (error) {
    const sqlState = sqlStateOf(error);
    if (sqlState !== undefined && ALREADY_CREATED.includes(sqlState)) return undefined;
    const create = `CREATE DATABASE ${pg.escapeIdentifier(name)}${user ? ` OWNER ${pg.escapeIdentifier(user)}` : ''}`;
    const who = user ? `user ${user}` : 'this user';
    const why =
      sqlState === '42501'
        ? `${who} may not create databases (no CREATEDB)`
        : `it could not be created (${messageOf(error)})`;
    return (
      `database ${name} does not exist at ${server} and ${why}. Create it (${create}), ` +
      `grant ${who} CREATEDB, or set DATABASE_URL to an existing database.`
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
