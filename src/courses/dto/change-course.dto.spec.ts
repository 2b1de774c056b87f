import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { ChangeCourseDto } from './change-course.dto.js';

async function invalidFields(body: Record<string, unknown>): Promise<string[]> {
  const errors = await validate(plainToInstance(ChangeCourseDto, body), {
    whitelist: true,
    forbidNonWhitelisted: true,
  });
  return errors.map((error) => error.property);
}

describe('ChangeCourseDto', () => {
  it('takes any subset of title, capacity and the window, and null to remove a window side', async () => {
    expect(await invalidFields({})).toEqual([]);
    expect(await invalidFields({ capacity: 0 })).toEqual([]);
    expect(await invalidFields({ title: 'Renamed', capacity: 100_000 })).toEqual([]);
    expect(await invalidFields({ opens_at: '2026-12-01T09:00:00Z', closes_at: null })).toEqual([]);
    expect(await invalidFields({ opens_at: '2026-12-01T09:00:00.000+01:00' })).toEqual([]);
  });

  it.each([
    ['capacity', { capacity: -1 }],
    ['capacity', { capacity: 100_001 }],
    ['capacity', { capacity: 1.5 }],
    ['title', { title: '' }],
    ['title', { title: 'T'.repeat(201) }],
    ['opens_at', { opens_at: 'next monday' }],
    ['closes_at', { closes_at: '2026-13-01T00:00:00Z' }],
    ['closes_at', { closes_at: 1_795_000_000 }],
    ['code', { code: 'NEW' }],
  ])('rejects an invalid %s, naming it', async (field, body) => {
    expect(await invalidFields(body)).toEqual([field]);
  });
});
