import { QueryFailedError } from 'typeorm';

// How PostgreSQL failures are told apart: an outage (wait, never blame the request), contention (try again,
// a bounded number of times), or anything else (the statement itself is wrong).

/**
 * SQLSTATE classes that mean the server or the connection is unavailable: 08 connection exception, 53
 * insufficient resources (53300 too many connections), 57P01..57P04 admin/crash shutdown and cannot connect
 * now, 58 system error.
 */
const OUTAGE_SQLSTATE = /^(08|53|57P0[1-4]|58)/;
/** Contention worth a bounded retry: serialization failure, deadlock, lock not available, statement
 * timeout, and a lost insert race. */
const RETRYABLE_SQLSTATE = /^(40001|40P01|55P03|57014|23505)$/;
/** What node's sockets and pg's pool report when the server is gone or never answered. */
const SOCKET_ERROR_CODES = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
];
const CONNECTION_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable|Connection is not established|terminating connection|the database system is (starting up|shutting down|in recovery mode)|server closed the connection/i;

/** The error pg reported, whether bare or wrapped by TypeORM. */
function driverErrorOf(error: unknown): unknown {
  return error instanceof QueryFailedError ? error.driverError : error;
}

/** The five-character SQLSTATE the server sent, if the server answered at all. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (driverErrorOf(error) as { code?: unknown } | undefined)?.code;
  // Five digits and capitals, at least one digit: a node errno such as EPIPE is not one.
  return typeof code === 'string' && /^(?=.*\d)[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** PostgreSQL is unreachable, refusing connections or going away, judged by what the driver reports. */
export function isConnectionError(error: unknown): boolean {
  const sqlState = sqlStateOf(error);
  // TypeORM wraps every failed statement in a QueryFailedError; a bare server error was raised while
  // connecting (e.g. 55000 'database is not currently accepting connections'): no connection, an outage.
  if (sqlState !== undefined && !(error instanceof QueryFailedError)) return true;
  if (sqlState !== undefined) return OUTAGE_SQLSTATE.test(sqlState);
  for (const candidate of [error, driverErrorOf(error)]) {
    if (!(candidate instanceof Error)) continue;
    const code = (candidate as { code?: unknown }).code;
    if (typeof code === 'string' && SOCKET_ERROR_CODES.includes(code)) return true;
    if (CONNECTION_MESSAGE.test(candidate.message)) return true;
  }
  return false;
}

/** Contention: the same transaction may well succeed when tried again. */
export function isRetryableDatabaseError(error: unknown): boolean {
  const sqlState = sqlStateOf(error);
  return sqlState !== undefined && RETRYABLE_SQLSTATE.test(sqlState);
}
