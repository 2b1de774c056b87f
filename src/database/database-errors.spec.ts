import { QueryFailedError } from 'typeorm';
import { isConnectionError, isRetryableDatabaseError, sqlStateOf } from './database-errors.js';

const sqlError = (code: string) =>
  new QueryFailedError('SELECT 1', [], Object.assign(new Error(`sqlstate ${code}`), { code }));
/** What TypeORM throws when pg loses the socket mid-query: a QueryFailedError with no SQLSTATE. */
const wrapped = (error: Error) => new QueryFailedError('SELECT 1', [], error);

describe('database error classes', () => {
  it.each(['08006', '08003', '08001', '57P01', '57P02', '57P03', '53300', '53200', '58030'])(
    'treats SQLSTATE %s as an outage',
    (code) => {
      expect(isConnectionError(sqlError(code))).toBe(true);
      expect(isRetryableDatabaseError(sqlError(code))).toBe(false);
    },
  );

  it('treats what pg and node report for a lost or refused connection as an outage, bare or wrapped', () => {
    const lost = [
      new Error('Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Client has encountered a connection error and is not queryable'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }),
    ];
    for (const error of lost) {
      expect(isConnectionError(error)).toBe(true);
      expect(isConnectionError(wrapped(error))).toBe(true);
      expect(sqlStateOf(wrapped(error))).toBeUndefined();
    }
  });

  it.each(['40001', '40P01', '55P03', '57014', '23505'])(
    'retries SQLSTATE %s a bounded number of times',
    (code) => {
      expect(isRetryableDatabaseError(sqlError(code))).toBe(true);
      expect(isConnectionError(sqlError(code))).toBe(false);
    },
  );

  it.each(['42601', '23514', '42P01', '22P02', '3D000', '28P01'])(
    'neither retries nor waits out SQLSTATE %s',
    (code) => {
      expect(isRetryableDatabaseError(sqlError(code))).toBe(false);
      expect(isConnectionError(sqlError(code))).toBe(false);
      expect(sqlStateOf(sqlError(code))).toBe(code);
    },
  );

  it('treats a server error met while connecting (not a failed statement) as an outage', () => {
    const refused = Object.assign(new Error('database "x" is not currently accepting connections'), {
      code: '55000',
      severity: 'FATAL',
    });
    expect(isConnectionError(refused)).toBe(true);
    expect(isConnectionError(new QueryFailedError('SELECT 1', [], refused))).toBe(false);
  });

  it('leaves other errors to the ping: no SQLSTATE, no connection words', () => {
    expect(isConnectionError(new Error('boom'))).toBe(false);
    expect(sqlStateOf(new Error('boom'))).toBeUndefined();
    expect(isConnectionError('a string')).toBe(false);
    expect(isConnectionError(undefined)).toBe(false);
    expect(isRetryableDatabaseError(undefined)).toBe(false);
    // A node errno like ECONNREFUSED is not a SQLSTATE.
    expect(sqlStateOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBeUndefined();
  });
});
