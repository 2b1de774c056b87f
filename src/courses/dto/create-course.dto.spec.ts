import { plainToInstance } from 'class-transformer';
import { validate, type ValidationError } from 'class-validator';
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

  it('counts characters by code point, as JSON Schema does: 200 emoji are a title', async () => {
    expect(await invalidFields({ ...valid, title: '💥'.repeat(200) })).toEqual([]);
    expect(await invalidFields({ ...valid, title: '💥'.repeat(201) })).toEqual(['title']);
  });

  it('refuses, rather than trims, white space at either end of a code or a title, and lone surrogates', async () => {
    expect(await invalidFields({ ...valid, code: '  CS101 ' })).toEqual(['code']);
    expect(await invalidFields({ ...valid, title: ' Intro to CS' })).toEqual(['title']);
    expect(await invalidFields({ ...valid, title: 'Intro \ud800' })).toEqual(['title']);
    expect(await invalidFields({ ...valid, title: 'Intro to  CS' })).toEqual([]);
  });

  it('refuses null for a field the document does not make nullable', async () => {
    expect(await invalidFields({ ...valid, credits: null })).toEqual(['credits']);
    expect(await invalidFields({ ...valid, opens_at: null })).toEqual([]);
  });

  it.each([
    '2026-12-01',
    '2026-12-01T09:00:00',
    '2026-W49-1',
    '2026-12-01T24:00:00Z',
    '0000-01-01T00:00:00Z',
  ])('refuses %s as opens_at: RFC 3339 only', async (opensAt) => {
    expect(await invalidFields({ ...valid, opens_at: opensAt })).toEqual(['opens_at']);
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

/** Every offending field by its path (`meetings.0.end`): nested errors are walked down to their leaves. */
async function invalidPaths(body: Record<string, unknown>): Promise<string[]> {
  const walk = (errors: ValidationError[], prefix: string): string[] =>
    errors.flatMap((error) => {
      const path = `${prefix}${error.property}`;
      const own = Object.keys(error.constraints ?? {}).length > 0 ? [path] : [];
      return [...own, ...walk(error.children ?? [], `${path}.`)];
    });
  const errors = await validate(plainToInstance(CreateCourseDto, body), {
    whitelist: true,
    forbidNonWhitelisted: true,
  });
  return walk(errors, '');
}

describe('CreateCourseDto schedule fields (v3)', () => {
  const monday = { days: 'M', start: '09:00', end: '09:50' };

  it.each([0, 0.5, 4, 39.5, 40])('accepts %p credits', async (credits) => {
    expect(await invalidPaths({ ...valid, credits })).toEqual([]);
  });

  it.each([-0.5, 40.5, 3.3, 0.25, null, '3', Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects %p credits, naming credits',
    async (credits) => {
      expect(await invalidPaths({ ...valid, credits })).toEqual(['credits']);
    },
  );

  it('accepts meetings of the contract, up to ten, and none', async () => {
    const meetings = [
      { days: 'MWF', start: '09:00', end: '09:50' },
      { days: 'TR', start: '13:30', end: '14:45' },
      { days: 'MTWRFSU', start: '00:00', end: '23:59' },
      { days: 'UMS', start: '19:59', end: '20:00' },
    ];
    expect(await invalidPaths({ ...valid, credits: 4, meetings })).toEqual([]);
    expect(await invalidPaths({ ...valid, meetings: [] })).toEqual([]);
    expect(await invalidPaths({ ...valid, meetings: Array.from({ length: 10 }, () => monday) })).toEqual([]);
  });

  it('keeps the meetings as sent', () => {
    const dto = plainToInstance(CreateCourseDto, { ...valid, meetings: [monday] });
    expect(dto.meetings).toEqual([monday]);
  });

  it('rejects eleven meetings, naming meetings', async () => {
    expect(await invalidPaths({ ...valid, meetings: Array.from({ length: 11 }, () => monday) })).toEqual([
      'meetings',
    ]);
  });

  it.each([
    ['meetings.0.days', { days: '' }],
    ['meetings.0.days', { days: 'MM' }],
    ['meetings.0.days', { days: 'MWFM' }],
    ['meetings.0.days', { days: 'X' }],
    ['meetings.0.days', { days: 'mwf' }],
    ['meetings.0.days', { days: 'MTWRFSUM' }],
    ['meetings.0.days', { days: 3 }],
    ['meetings.0.days', { days: undefined }],
    ['meetings.0.start', { start: '9:00' }],
    ['meetings.0.start', { start: '24:00' }],
    ['meetings.0.start', { start: '12:60' }],
    ['meetings.0.start', { start: '09:00:00' }],
    ['meetings.0.start', { start: 900 }],
    ['meetings.0.end', { end: '09:00' }],
    ['meetings.0.end', { end: '08:59' }],
    ['meetings.0.end', { end: '9:50' }],
    ['meetings.0.end', { end: undefined }],
    ['meetings.0.room', { room: 'B12' }],
  ])('names %s for a meeting changed by %p', async (path, change) => {
    expect(await invalidPaths({ ...valid, meetings: [{ ...monday, ...change }] })).toEqual([path]);
  });

  it('names the meeting at fault by its index', async () => {
    const meetings = [monday, monday, { ...monday, end: '08:00' }];
    expect(await invalidPaths({ ...valid, meetings })).toEqual(['meetings.2.end']);
  });

  // A meeting is a JSON object; an array in its place is no meeting either, however it is filled.
  it.each([
    ['a string', 'M 09:00-09:50'],
    ['a number', 7],
    ['null', null],
    ['an array of its fields', ['M', '09:00', '09:50']],
    ['an empty array', []],
    ['an array holding a meeting', [{ days: 'M', start: '09:00', end: '09:50' }]],
  ])('rejects a meeting that is %s, naming meetings', async (_, meeting) => {
    const paths = await invalidPaths({ ...valid, meetings: [meeting] });
    expect(paths.length).toBeGreaterThan(0);
    // "each of meetings must be an object" (on meetings), or the element's own path (meetings.0).
    expect(paths.filter((path) => path !== 'meetings' && !path.startsWith('meetings.0'))).toEqual([]);
  });

  it.each([
    ['null', null],
    ['an object', monday],
    ['a string', 'MWF 09:00-09:50'],
  ])('rejects meetings that are %s, naming meetings', async (_, meetings) => {
    expect(await invalidPaths({ ...valid, meetings })).toEqual(['meetings']);
  });
});
