import { CoursesService } from '../src/courses/courses.service.js';
import { ADMIN_TOKEN, asAdmin, http, newCourse, useWorld } from './support/test-app.js';

describe('courses API', () => {
  const ctx = useWorld();

  it('builds one CoursesService however many modules need it, so a process has one course cache', () => {
    expect(ctx.app.app.get(CoursesService, { strict: false, each: true })).toHaveLength(1);
  });

  it('creates a course for an operator and shows it with its seat counts', async () => {
    const created = await http(
      ctx.baseUrl,
      'POST',
      '/courses',
      { code: 'CS101', title: 'Intro to CS', capacity: 30 },
      asAdmin,
    );
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/courses/${created.body.id}`);
    expect(created.body).toEqual({
      id: expect.any(Number),
      code: 'CS101',
      title: 'Intro to CS',
      capacity: 30,
      seats_taken: 0,
      seats_available: 30,
      waitlist_length: 0,
      opens_at: null,
      closes_at: null,
      seats_held: 0,
      credits: 0,
      meetings: [],
      waitlist_mode: 'auto',
      offer_ttl_s: 86400,
      draw_window_s: 0,
      prequeue_s: 0,
    });
    const fetched = await http(ctx.baseUrl, 'GET', `/courses/${created.body.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(created.body);
  });

  it('lists courses ordered by code', async () => {
    await http(ctx.baseUrl, 'POST', '/courses', { code: 'ZZ900', title: 'Last', capacity: 1 }, asAdmin);
    await http(ctx.baseUrl, 'POST', '/courses', { code: 'AA100', title: 'First', capacity: 1 }, asAdmin);
    const listed = await http(ctx.baseUrl, 'GET', '/courses');
    expect(listed.status).toBe(200);
    const codes = (listed.body as Array<{ code: string }>).map((course) => course.code);
    expect(codes).toEqual([...codes].sort());
    expect(codes).toEqual(expect.arrayContaining(['AA100', 'ZZ900']));
  });

  it('answers 409 when the code exists', async () => {
    await newCourse(ctx.baseUrl, 5).then(async (id) => {
      const existing = await http(ctx.baseUrl, 'GET', `/courses/${id}`);
      const again = await http(
        ctx.baseUrl,
        'POST',
        '/courses',
        { code: existing.body.code, title: 'Again', capacity: 3 },
        asAdmin,
      );
      expect(again.status).toBe(409);
      expect(again.body.message).toContain('code');
    });
  });

  it('treats codes that differ only in case as one code: the second answers 409 and nothing is written', async () => {
    const first = await http(
      ctx.baseUrl,
      'POST',
      '/courses',
      { code: 'Ma201', title: 'Linear algebra', capacity: 3 },
      asAdmin,
    );
    expect(first.status).toBe(201);
    for (const code of ['MA201', 'ma201', 'mA201']) {
      const again = await http(
        ctx.baseUrl,
        'POST',
        '/courses',
        { code, title: 'Linear algebra again', capacity: 3 },
        asAdmin,
      );
      expect({ code, status: again.status, body: again.body }).toEqual({
        code,
        status: 409,
        body: {
          statusCode: 409,
          error: 'Conflict',
          message: `code ${code} already exists as Ma201 (codes are unique whatever their case)`,
        },
      });
    }
    const listed = await http(ctx.baseUrl, 'GET', '/courses');
    const codes = (listed.body as Array<{ code: string }>).map((course) => course.code.toLowerCase());
    expect(codes.filter((code) => code === 'ma201')).toHaveLength(1);
  });

  it.each([
    ['no header', {}],
    ['a wrong token', { authorization: 'Bearer not-the-token' }],
    ['a token of another length', { authorization: 'Bearer x' }],
    ['another scheme', { authorization: `Basic ${ADMIN_TOKEN}` }],
  ])('answers 401 to a course creation with %s', async (_what, headers) => {
    const denied = await http(
      ctx.baseUrl,
      'POST',
      '/courses',
      { code: 'NOPE1', title: 'Nope', capacity: 1 },
      headers,
    );
    expect(denied.status).toBe(401);
    expect(denied.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    const listed = await http(ctx.baseUrl, 'GET', '/courses');
    expect((listed.body as Array<{ code: string }>).some((course) => course.code === 'NOPE1')).toBe(false);
  });

  it.each([
    ['capacity', { code: 'BAD1', title: 'x', capacity: -1 }],
    ['capacity', { code: 'BAD2', title: 'x', capacity: 100001 }],
    ['capacity', { code: 'BAD3', title: 'x', capacity: 2.5 }],
    ['capacity', { code: 'BAD4', title: 'x', capacity: '30' }],
    ['capacity', { code: 'BAD5', title: 'x' }],
    ['code', { code: '', title: 'x', capacity: 1 }],
    ['code', { code: 'C'.repeat(33), title: 'x', capacity: 1 }],
    ['title', { code: 'BAD6', capacity: 1 }],
    ['color', { code: 'BAD7', title: 'x', capacity: 1, color: 'red' }],
  ])('answers 400 naming %s for an invalid course', async (field, body) => {
    const rejected = await http(ctx.baseUrl, 'POST', '/courses', body, asAdmin);
    expect(rejected.status).toBe(400);
    expect(JSON.stringify(rejected.body.message)).toContain(field);
  });

  it('answers 400 to malformed JSON', async () => {
    const rejected = await http(ctx.baseUrl, 'POST', '/courses', '{"code": ', asAdmin);
    expect(rejected.status).toBe(400);
  });

  it('answers 404 for an unknown course and 400 for a non-numeric id', async () => {
    expect((await http(ctx.baseUrl, 'GET', '/courses/999999')).status).toBe(404);
    expect((await http(ctx.baseUrl, 'GET', '/courses/abc')).status).toBe(400);
  });
});
