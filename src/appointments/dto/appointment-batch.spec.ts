import { DomainError, DomainErrorCode } from '../../errors/domain-error.js';
import { STATUS_BY_CODE } from '../../http/domain-exception.filter.js';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import {
  isAppointmentBatchRoute,
  isPlainlyValid,
  MAX_APPOINTMENTS_PER_CALL,
  parseAppointmentBatch,
} from './appointment-batch.js';
import { AppointmentRowDto } from './appointment-row.dto.js';

/** The refusal parseAppointmentBatch throws for this body. */
function refusal(body: unknown): DomainError {
  try {
    parseAppointmentBatch(body);
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
  throw new Error('the body was taken');
}

const row = (index: number, fields: Record<string, unknown> = {}) => ({
  student_id: `s-${index}`,
  opens_at: '2026-12-14T09:00:00Z',
  closes_at: '2026-12-14T18:00:00Z',
  ...fields,
});

const DATE_TIME =
  'must be an RFC 3339 date-time with an offset, years 0001..9998 (e.g. 2026-12-01T09:00:00Z)';

describe('parseAppointmentBatch (POST /admin/appointments)', () => {
  it('takes rows as the service writes them, closes_at null or absent meaning none', () => {
    expect(
      parseAppointmentBatch([
        row(1),
        row(2, { closes_at: null }),
        { student_id: 's-3', opens_at: '2026-12-14T10:00:00+01:00' },
      ]),
    ).toEqual([
      {
        studentId: 's-1',
        opensAt: new Date('2026-12-14T09:00:00Z'),
        closesAt: new Date('2026-12-14T18:00:00Z'),
      },
      { studentId: 's-2', opensAt: new Date('2026-12-14T09:00:00Z'), closesAt: null },
      { studentId: 's-3', opensAt: new Date('2026-12-14T09:00:00Z'), closesAt: null },
    ]);
  });

  it(`takes ${MAX_APPOINTMENTS_PER_CALL} rows, and refuses one more with a 413 naming the limit`, () => {
    const rows = Array.from({ length: MAX_APPOINTMENTS_PER_CALL }, (_, index) => row(index));
    expect(parseAppointmentBatch(rows)).toHaveLength(MAX_APPOINTMENTS_PER_CALL);
    const tooMany = refusal([...rows, row(MAX_APPOINTMENTS_PER_CALL)]);
    expect(tooMany.code).toBe(DomainErrorCode.AppointmentBatchTooLarge);
    expect(STATUS_BY_CODE[tooMany.code]).toBe(413);
    expect(tooMany.message).toBe('at most 10000 appointments per call (the body has 10001)');
  });

  it.each<[string, unknown, string]>([
    ['an object', row(1), 'the body must be a JSON array of 1..10000 appointments'],
    ['a string', 's-1', 'the body must be a JSON array of 1..10000 appointments'],
    ['an empty array', [], 'the body is an empty array; send 1..10000 appointments'],
  ])('refuses %s with a 400', (_, body, message) => {
    const refused = refusal(body);
    expect([refused.code, refused.message, refused.details]).toEqual([
      DomainErrorCode.RequestInvalid,
      message,
      [message],
    ]);
  });

  it('names each offending row and field, and writes none of them', () => {
    const refused = refusal([
      row(0),
      row(1, { opens_at: '2026-12-14' }),
      row(2, { closes_at: '2026-12-14T09:00:00Z' }),
      row(3, { room: 'B12' }),
      null,
      row(5, { student_id: 'no spaces' }),
      row(6, { opens_at: null, closes_at: 7 }),
      [row(7)],
      row(8, { student_id: undefined }),
    ]);
    expect(refused.code).toBe(DomainErrorCode.RequestInvalid);
    expect(refused.details).toEqual([
      `[1].opens_at ${DATE_TIME}`,
      '[2].closes_at must be after opens_at',
      '[3].room should not exist',
      '[4] must be an object with student_id, opens_at and closes_at',
      '[5].student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
      `[6].opens_at ${DATE_TIME}`,
      `[6].closes_at ${DATE_TIME}`,
      '[7] must be an object with student_id, opens_at and closes_at',
      '[8].student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..; student_id must be a string',
    ]);
    expect(refused.message).toBe(`${refused.details!.slice(0, 9).join('; ')}`);
  });

  it('refuses a student named twice, naming both rows', () => {
    const refused = refusal([row(1), row(2), row(3, { student_id: 's-1' })]);
    expect(refused.details).toEqual(['[2].student_id s-1 is already at [0]; name a student once']);
  });

  it('quotes the first ten problems in the message and lists every one in details', () => {
    const rows = Array.from({ length: 25 }, (_, index) => row(index, { opens_at: 'soon' }));
    const refused = refusal(rows);
    expect(refused.details).toHaveLength(25);
    expect(refused.details![24]).toBe(`[24].opens_at ${DATE_TIME}`);
    expect(refused.message).toMatch(/^\[0\]\.opens_at must be .*; and 15 more \(see details\)$/);
  });
});

describe('isPlainlyValid', () => {
  const variants: Array<Record<string, unknown>> = [
    row(1),
    row(1, { closes_at: null }),
    row(1, { closes_at: undefined }),
    { student_id: 's-1', opens_at: '2026-12-14T09:00:00Z' },
    row(1, { closes_at: '2026-12-14T09:00:00Z' }),
    row(1, { closes_at: '2026-12-14T10:00:00+01:00' }),
    row(1, { closes_at: '2026-12-14T09:00:00.001Z' }),
    row(1, { opens_at: '2026-12-14T10:00:00+01:00', closes_at: '2026-12-14T09:00:01Z' }),
    row(1, { opens_at: '2026-02-30T09:00:00Z' }),
    row(1, { opens_at: '2026-12-14' }),
    row(1, { opens_at: null }),
    row(1, { opens_at: undefined }),
    row(1, { closes_at: 0 }),
    row(1, { student_id: 'x'.repeat(64) }),
    row(1, { student_id: 'x'.repeat(65) }),
    row(1, { student_id: '' }),
    row(1, { student_id: 42 }),
    row(1, { extra: 1 }),
    {},
  ];

  it.each(variants.map((variant) => [JSON.stringify(variant), variant]))(
    'agrees with the DTO on %s',
    (_, variant) => {
      const errors = validateSync(plainToInstance(AppointmentRowDto, variant), {
        whitelist: true,
        forbidNonWhitelisted: true,
      });
      expect(isPlainlyValid(variant)).toBe(errors.length === 0);
    },
  );
});

describe('isAppointmentBatchRoute', () => {
  it.each<[string, string, boolean]>([
    ['POST', '/admin/appointments', true],
    ['POST', '/admin/appointments/', true],
    ['POST', '/Admin/Appointments', true],
    ['PUT', '/admin/appointments', false],
    ['PUT', '/admin/appointments/s-1', false],
    ['POST', '/admin/appointments/s-1', false],
    ['POST', '/enroll', false],
    ['POST', '/admin/overrides', false],
  ])('%s %s: %p', (method, path, expected) => {
    expect(isAppointmentBatchRoute(method, path)).toBe(expected);
  });
});
