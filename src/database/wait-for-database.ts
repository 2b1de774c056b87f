import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Logger } from 'pino';
import { databaseAddress, maskedDatabaseUrl } from './data-source.js';
import { sqlStateOf } from './database-errors.js';
import { messageOf } from '../errors/error-message.js';

const RETRY_EVERY_MS = 1000;

/**
 * Before the application starts: waits until PostgreSQL accepts a connection, logging each failed try as
 * one line at once. Gives up at the deadline, or at once when retrying cannot help (the database does not
 * exist, the credentials are refused), with one line that names the URL (password masked) and what to check.
 */
export async function waitForDatabase(databaseUrl: string, timeoutMs: number, log: Logger): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const address = databaseAddress(databaseUrl);
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
