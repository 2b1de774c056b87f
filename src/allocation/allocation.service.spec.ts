import { QueryFailedError } from 'typeorm';
import { isTransientDatabaseError } from './allocation.service.js';

const sqlError = (code: string) =>
  new QueryFailedError('SELECT 1', [], Object.assign(new Error(`sqlstate ${code}`), { code }));

describe('isTransientDatabaseError', () => {
  it.each(['40001', '40P01', '55P03', '57P01', '08006', '08003', '53300', '23505'])(
    'retries SQLSTATE %s',
    (code) => {
      expect(isTransientDatabaseError(sqlError(code))).toBe(true);
    },
  );

  it('retries lost connections', () => {
    expect(
      isTransientDatabaseError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toBe(true);
    expect(isTransientDatabaseError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientDatabaseError(new Error('timeout exceeded when trying to connect'))).toBe(true);
  });

  it.each(['42601', '23514', '42P01'])('does not retry SQLSTATE %s', (code) => {
    expect(isTransientDatabaseError(sqlError(code))).toBe(false);
  });

  it('does not retry other errors', () => {
    expect(isTransientDatabaseError(new Error('boom'))).toBe(false);
    expect(isTransientDatabaseError('a string')).toBe(false);
    expect(isTransientDatabaseError(undefined)).toBe(false);
  });
});
