import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { CreateCourseDto } from './create-course.dto.js';

async function invalidFields(body: Record<string, unknown>): Promise<string[]> {
  const errors = await validate(plainToInstance(CreateCourseDto, body), {
    whitelist: true,
    forbidNonWhitelisted: true,
  });
  return errors.map((error) => error.property);
}

const valid = { code: 'CS101', title: 'Intro to CS', capacity: 30 };

describe('CreateCourseDto', () => {
  it('accepts the contract limits', async () => {
    expect(await invalidFields(valid)).toEqual([]);
    expect(await invalidFields({ code: 'C'.repeat(32), title: 'T'.repeat(200), capacity: 0 })).toEqual([]);
    expect(await invalidFields({ ...valid, capacity: 100_000 })).toEqual([]);
  });

  it('trims a code and a title', () => {
    const dto = plainToInstance(CreateCourseDto, { ...valid, code: '  CS101 ', title: ' Intro to CS  ' });
    expect([dto.code, dto.title]).toEqual(['CS101', 'Intro to CS']);
  });

  it.each([
    ['code', { code: '' }],
    ['code', { code: 'C'.repeat(33) }],
    ['code', { code: 101 }],
    ['code', { code: '   ' }],
    ['code', { code: 'CS\u0000101' }],
    ['code', { code: 'CS\n101' }],
    ['title', { title: 'Intro\u0000' }],
    ['title', { title: 'Intro\u007f' }],
    ['title', { title: '' }],
    ['title', { title: 'T'.repeat(201) }],
    ['title', { title: undefined }],
    ['capacity', { capacity: -1 }],
    ['capacity', { capacity: 100_001 }],
    ['capacity', { capacity: 2.5 }],
    ['capacity', { capacity: '30' }],
    ['capacity', { capacity: undefined }],
    ['room', { room: 'B12' }],
  ])('rejects an invalid %s, naming it', async (field, change) => {
    expect(await invalidFields({ ...valid, ...change })).toEqual([field]);
  });
});
