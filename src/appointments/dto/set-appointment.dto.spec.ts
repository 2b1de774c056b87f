import { DomainError, DomainErrorCode } from '../../errors/domain-error.js';
import { AppValidationPipe } from '../../http/validation.pipe.js';
import { isDateTime } from '../../http/date-time.js';
import { SetAppointmentDto } from './set-appointment.dto.js';

/** The body as the API's own pipe takes it: the DTO, or the 400's details. */
async function details(body: unknown): Promise<string[]> {
  try {
    await new AppValidationPipe().transform(body, { type: 'body', metatype: SetAppointmentDto });
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe(DomainErrorCode.RequestInvalid);
    return (error as DomainError).details ?? [];
  }
}

const DATE_TIME =
  'must be an RFC 3339 date-time with an offset, years 0001..9998 (e.g. 2026-12-01T09:00:00Z)';

describe('SetAppointmentDto (PUT /admin/appointments/:student_id)', () => {
  it.each([
    { opens_at: '2026-12-14T09:00:00Z' },
    { opens_at: '2026-12-14T09:00:00Z', closes_at: null },
    { opens_at: '2026-12-14T09:00:00Z', closes_at: '2026-12-14T09:00:00.001Z' },
    { opens_at: '2026-12-14T10:00:00+01:00', closes_at: '2026-12-14T09:30:00-00:30' },
    { opens_at: '2028-02-29T09:00:00.123456Z' },
  ])('takes %j', async (body) => {
    expect(await details(body)).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a missing opens_at', {}, `opens_at ${DATE_TIME}`],
    ['a null opens_at', { opens_at: null }, `opens_at ${DATE_TIME}`],
    ['a number', { opens_at: 1_796_000_000_000 }, `opens_at ${DATE_TIME}`],
    ['a date without a time', { opens_at: '2026-12-14' }, `opens_at ${DATE_TIME}`],
    ['a time without an offset', { opens_at: '2026-12-14T09:00:00' }, `opens_at ${DATE_TIME}`],
    ['a day that does not exist', { opens_at: '2026-02-30T09:00:00Z' }, `opens_at ${DATE_TIME}`],
    ['hour 24', { opens_at: '2026-12-14T24:00:00Z' }, `opens_at ${DATE_TIME}`],
    ['a leap second off 23:59 UTC', { opens_at: '2026-12-31T22:59:60Z' }, `opens_at ${DATE_TIME}`],
    ['a space for T', { opens_at: '2026-12-14 09:00:00Z' }, `opens_at ${DATE_TIME}`],
  ])('refuses %s, naming opens_at', async (_, body, detail) => {
    expect(await details(body)).toEqual([detail]);
  });

  it.each<[string, unknown]>([
    ['a number', 5],
    ['a bare date', '2026-12-15'],
    ['an empty string', ''],
  ])('refuses a closes_at that is %s, naming it', async (_, closesAt) => {
    expect(await details({ opens_at: '2026-12-14T09:00:00Z', closes_at: closesAt })).toEqual([
      `closes_at ${DATE_TIME}`,
    ]);
  });

  it.each([
    ['the same instant', '2026-12-14T09:00:00Z', '2026-12-14T10:00:00+01:00'],
    ['an earlier instant', '2026-12-14T09:00:00Z', '2026-12-14T08:59:59.999Z'],
  ])('refuses a closes_at at %s as opens_at, naming both', async (_, opensAt, closesAt) => {
    expect(await details({ opens_at: opensAt, closes_at: closesAt })).toEqual([
      'closes_at must be after opens_at',
    ]);
  });

  it('refuses an unknown field, naming it', async () => {
    expect(await details({ opens_at: '2026-12-14T09:00:00Z', student_id: 's-1' })).toEqual([
      'student_id: property student_id should not exist',
    ]);
  });

  it('reads a date-time as the instant it names', () => {
    expect(isDateTime('2026-12-14T10:00:00+01:00')).toBe(true);
    expect(new Date('2026-12-14T10:00:00+01:00').toISOString()).toBe('2026-12-14T09:00:00.000Z');
  });
});
