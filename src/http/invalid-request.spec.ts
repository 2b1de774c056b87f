import { ValidationError } from 'class-validator';
import { DomainErrorCode } from '../errors/domain-error.js';
import { invalidRequest } from './invalid-request.js';

const error = (property: string, constraints: Record<string, string>, children: ValidationError[] = []) =>
  Object.assign(new ValidationError(), { property, constraints, children });

describe('invalidRequest', () => {
  it('gives one detail per offending field, naming it (nested ones by their path), and joins them into the message', () => {
    const found = invalidRequest([
      error('student_id', { matches: 'student_id must be 1..64 characters' }),
      error('priority', {
        max: 'priority must not be greater than 100',
        isInt: 'priority must be an integer',
      }),
      error('window', {}, [error('opens_at', { isIso8601: 'opens_at must be ISO 8601' })]),
    ]);
    expect(found.code).toBe(DomainErrorCode.RequestInvalid);
    expect(found.details).toEqual([
      'student_id must be 1..64 characters',
      'priority must not be greater than 100; priority must be an integer',
      'window.opens_at: opens_at must be ISO 8601',
    ]);
    expect(found.message).toBe(
      'student_id must be 1..64 characters; priority must not be greater than 100; ' +
        'priority must be an integer; window.opens_at: opens_at must be ISO 8601',
    );
  });
});
