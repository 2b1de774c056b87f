import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { EnrollRequestDto } from './enroll-request.dto.js';

/** The same options as the application's global ValidationPipe. */
async function invalidFields(body: Record<string, unknown>): Promise<string[]> {
  const errors = await validate(plainToInstance(EnrollRequestDto, body), {
    whitelist: true,
    forbidNonWhitelisted: true,
  });
  return errors.map((error) => error.property);
}

const valid = { student_id: 's-0042', course_id: 1, priority: 0, idempotency_key: 'portal-7f3a9c1e' };

describe('EnrollRequestDto', () => {
  it('accepts a complete request, and one without priority or key (the key may come as a header)', async () => {
    expect(await invalidFields(valid)).toEqual([]);
    expect(await invalidFields({ student_id: 'A.b_c:d-9', course_id: 2_147_483_647 })).toEqual([]);
    expect(await invalidFields({ ...valid, priority: 100, idempotency_key: '~'.repeat(128) })).toEqual([]);
    expect(
      await invalidFields({
        ...valid,
        student_id: 'x'.repeat(64),
        idempotency_key: ' spaces are printable ',
      }),
    ).toEqual([]);
  });

  it.each([
    ['student_id', { student_id: '' }],
    ['student_id', { student_id: 'x'.repeat(65) }],
    ['student_id', { student_id: 's 42' }],
    ['student_id', { student_id: 's/42' }],
    ['student_id', { student_id: 42 }],
    ['student_id', { student_id: undefined }],
    ['course_id', { course_id: '1' }],
    ['course_id', { course_id: 0 }],
    ['course_id', { course_id: -3 }],
    ['course_id', { course_id: 1.5 }],
    ['course_id', { course_id: 2_147_483_648 }],
    ['course_id', { course_id: undefined }],
    ['priority', { priority: 101 }],
    ['priority', { priority: -1 }],
    ['priority', { priority: 5.5 }],
    ['priority', { priority: '5' }],
    ['idempotency_key', { idempotency_key: '' }],
    ['idempotency_key', { idempotency_key: 'k'.repeat(129) }],
    ['idempotency_key', { idempotency_key: 'line\nbreak' }],
    ['idempotency_key', { idempotency_key: 'é' }],
    ['idempotency_key', { idempotency_key: 7 }],
    ['seat', { seat: 'A1' }],
  ])('rejects an invalid %s, naming it', async (field, change) => {
    expect(await invalidFields({ ...valid, ...change })).toEqual([field]);
  });
});
