import { randomBytes } from 'node:crypto';
import { connect } from './support/db-client.js';
import {
  apiCalls,
  asAdmin,
  eventually,
  http,
  newRequest,
  useWorld,
  waitForDecision,
} from './support/test-app.js';

/** Registration appointments (contract v3, Fair opening) through HTTP, on real PostgreSQL and Redis. */
describe('registration appointments', () => {
  const ctx = useWorld();
  const { call, student, newCourse } = apiCalls(ctx, 'apt');

  const put = (studentId: string, body: unknown, headers: Record<string, string> = asAdmin) =>
    call('PUT', `/admin/appointments/${studentId}`, body, headers);
  const get = (studentId: string) => call('GET', `/students/${studentId}/appointment`);
  const remove = (studentId: string) =>
    call('DELETE', `/admin/appointments/${studentId}`, undefined, asAdmin);
  const bulk = (body: unknown) => call('POST', '/admin/appointments', body, asAdmin);
  const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();
  const anHourAgo = () => new Date(Date.now() - 3_600_000).toISOString();

  /** How many appointments PostgreSQL holds for students whose ids start with `prefix`. */
  async function stored(prefix: string): Promise<number> {
    const client = await connect(ctx.world.database.url);
    try {
      const { rows } = await client.query(
        'SELECT count(*)::int AS n FROM student_appointments WHERE student_id LIKE $1',
        [`${prefix}%`],
      );
      return rows[0].n as number;
    } finally {
      await client.end();
    }
  }

  it('sets, replaces, reads and lifts an appointment', async () => {
    const s = student();
    expect(await get(s)).toMatchObject({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', message: `student ${s} has no registration appointment` },
    });

    const set = await put(s, { opens_at: '2026-12-14T10:00:00+01:00' });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({
      student_id: s,
      opens_at: '2026-12-14T09:00:00.000Z',
      closes_at: null,
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect((await get(s)).body).toEqual(set.body);

    const replaced = await put(s, { opens_at: '2026-12-15T09:00:00Z', closes_at: '2026-12-15T17:00:00Z' });
    expect(replaced.body).toMatchObject({
      opens_at: '2026-12-15T09:00:00.000Z',
      closes_at: '2026-12-15T17:00:00.000Z',
    });
    expect((await get(s)).body).toEqual(replaced.body);

    expect((await remove(s)).status).toBe(204);
    expect((await get(s)).status).toBe(404);
    expect(await remove(s)).toMatchObject({
      status: 404,
      body: { message: `student ${s} has no registration appointment` },
    });
  });

  it('is for operators only: 401 without the admin token, changing nothing', async () => {
    const s = student();
    const body = { opens_at: inAnHour() };
    // With the portal's client token (what http() sends unless told otherwise), then with none valid.
    for (const answer of [
      await put(s, body, {}),
      await call('POST', '/admin/appointments', [{ student_id: s, ...body }]),
      await call('DELETE', `/admin/appointments/${s}`),
    ]) {
      expect(answer.status).toBe(401);
      expect(answer.body.message).toBe('Authorization must be "Bearer <ADMIN_TOKEN>"');
    }
    expect((await put(s, body, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(s)).status).toBe(404);
  });

  it('refuses a bad body or student id with a 400 naming the field, changing nothing', async () => {
    const s = student();
    const cases: Array<[unknown, string]> = [
      [{}, 'opens_at'],
      [{ opens_at: null }, 'opens_at'],
      [{ opens_at: 1_796_000_000 }, 'opens_at'],
      [{ opens_at: '2026-12-14T09:00:00' }, 'opens_at'],
      [{ opens_at: '2026-12-14T09:00:00Z', closes_at: 'tomorrow' }, 'closes_at'],
      [{ opens_at: '2026-12-14T09:00:00Z', room: 'B12' }, 'room'],
    ];
    for (const [body, field] of cases) {
      const answer = await put(s, body);
      expect([answer.status, answer.body.message, answer.body.details]).toEqual([
        400,
        expect.stringContaining(field),
        [expect.stringContaining(field)],
      ]);
    }
    const backwards = await put(s, { opens_at: '2026-12-14T09:00:00Z', closes_at: '2026-12-14T09:00:00Z' });
    expect([backwards.status, backwards.body.message]).toEqual([400, 'closes_at must be after opens_at']);
    expect((await put('not a student', { opens_at: inAnHour() })).status).toBe(400);
    expect((await get(s)).status).toBe(404);
  });

  it('sets 10,000 appointments in one call, all readable, and replaces them with the next', async () => {
    const prefix = `bulk-${randomBytes(3).toString('hex')}-`;
    const rows = Array.from({ length: 10_000 }, (_, index) => ({
      student_id: `${prefix}${index}`,
      opens_at: '2026-12-14T09:00:00Z',
      closes_at: index % 2 === 0 ? '2026-12-14T18:00:00Z' : null,
    }));
    expect(await bulk(rows)).toMatchObject({ status: 200, body: { upserted: 10_000 } });
    expect(await stored(prefix)).toBe(10_000);
    expect((await get(`${prefix}9998`)).body).toMatchObject({
      opens_at: '2026-12-14T09:00:00.000Z',
      closes_at: '2026-12-14T18:00:00.000Z',
    });
    expect((await get(`${prefix}9999`)).body).toMatchObject({ closes_at: null });

    const moved = rows
      .slice(0, 3)
      .map((row) => ({ ...row, opens_at: '2026-12-15T09:00:00Z', closes_at: null }));
    expect(await bulk(moved)).toMatchObject({ status: 200, body: { upserted: 3 } });
    expect((await get(`${prefix}0`)).body).toMatchObject({ opens_at: '2026-12-15T09:00:00.000Z' });
    expect(await stored(prefix)).toBe(10_000);
  });

  it('refuses more than 10,000 rows and a body past 2 MiB with 413, writing none', async () => {
    const prefix = `big-${randomBytes(3).toString('hex')}-`;
    const rows = Array.from({ length: 10_001 }, (_, index) => ({
      student_id: `${prefix}${index}`,
      opens_at: '2026-12-14T09:00:00Z',
    }));
    expect(await bulk(rows)).toMatchObject({
      status: 413,
      body: {
        statusCode: 413,
        error: 'Payload Too Large',
        message: 'at most 10000 appointments per call (the body has 10001)',
      },
    });

    const padded = `${JSON.stringify(rows.slice(0, 10)).slice(0, -1)}${' '.repeat(2 * 1024 * 1024)}]`;
    expect(await bulk(padded)).toEqual({
      status: 413,
      headers: expect.anything(),
      body: {
        statusCode: 413,
        error: 'Payload Too Large',
        message: 'the body is larger than 2 MiB',
        details: ['the body is larger than 2 MiB'],
      },
    });
    expect(await stored(prefix)).toBe(0);
  });

  it('keeps the 16 KiB limit on every other route, the admin ones too', async () => {
    const large = { opens_at: '2026-12-14T09:00:00Z', padding: 'x'.repeat(20 * 1024) };
    for (const answer of [
      await put(student(), large),
      await call('POST', '/admin/overrides', large, asAdmin),
      await call('POST', '/admin/appointments/extra', large, asAdmin),
    ]) {
      expect(answer).toMatchObject({
        status: 413,
        body: { message: 'the body is larger than 16 KiB', details: ['the body is larger than 16 KiB'] },
      });
    }
  });

  it('refuses a bad row naming its index and field, and a student named twice naming both', async () => {
    const prefix = `bad-${randomBytes(3).toString('hex')}-`;
    const rows = Array.from({ length: 20 }, (_, index) => ({
      student_id: `${prefix}${index}`,
      opens_at: '2026-12-14T09:00:00Z',
      closes_at: null as string | null,
    }));
    const badRow = rows.map((row, index) => (index === 17 ? { ...row, opens_at: '14/12/2026' } : row));
    const refused = await bulk(badRow);
    expect(refused.status).toBe(400);
    expect(refused.body.details).toEqual([
      '[17].opens_at must be an RFC 3339 date-time with an offset, years 0001..9998 (e.g. 2026-12-01T09:00:00Z)',
    ]);

    const twice = [...rows, { ...rows[4], opens_at: '2026-12-15T09:00:00Z' }];
    const duplicate = await bulk(twice);
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.details).toEqual([
      `[20].student_id ${prefix}4 is already at [4]; name a student once`,
    ]);

    expect((await bulk([])).status).toBe(400);
    expect((await bulk({ student_id: `${prefix}0`, opens_at: '2026-12-14T09:00:00Z' })).status).toBe(400);
    expect(await stored(prefix)).toBe(0);
  });

  it('refuses POST /enroll before the appointment with 409 naming when, remembering nothing; the same key passes once it opens', async () => {
    const s = student();
    const courseId = await newCourse(5);
    const opensAt = inAnHour();
    expect((await put(s, { opens_at: opensAt })).status).toBe(200);

    const body = newRequest(courseId, { student_id: s });
    const early = await call('POST', '/enroll', body);
    expect(early).toMatchObject({
      status: 409,
      body: {
        statusCode: 409,
        error: 'Conflict',
        message: `student ${s}'s registration appointment opens at ${opensAt}`,
      },
    });
    expect((await call('GET', `/enrollments/${body.idempotency_key}`)).status).toBe(404);
    expect((await call('GET', `/students/${s}/requests`)).body).toEqual([]);

    expect((await put(s, { opens_at: new Date(Date.now() - 1000).toISOString() })).status).toBe(200);
    expect((await call('POST', '/enroll', body)).status).toBe(202);
    expect((await waitForDecision(ctx.baseUrl, body.idempotency_key)).body.status).toBe('enrolled');
  });

  it('refuses POST /enroll once the appointment has closed, and lets in a student without one', async () => {
    const courseId = await newCourse(5);
    const late = student();
    const closesAt = new Date(Date.now() - 1000).toISOString();
    expect((await put(late, { opens_at: anHourAgo(), closes_at: closesAt })).status).toBe(200);
    const refused = await call('POST', '/enroll', newRequest(courseId, { student_id: late }));
    expect(refused).toMatchObject({
      status: 409,
      body: { message: `student ${late}'s registration appointment closed at ${closesAt}` },
    });

    const free = newRequest(courseId, { student_id: student() });
    expect((await call('POST', '/enroll', free)).status).toBe(202);

    // Lifted: only the course's window binds the student now.
    expect((await remove(late)).status).toBe(204);
    const lifted = newRequest(courseId, { student_id: late });
    expect((await call('POST', '/enroll', lifted)).status).toBe(202);
    expect((await waitForDecision(ctx.baseUrl, lifted.idempotency_key)).body.status).toBe('enrolled');
  });

  it('reaches another API process within its cache TTL', async () => {
    const other = await ctx.startApp({ ROLE: 'api', COURSE_CACHE_TTL_MS: '500' });
    const s = student();
    const courseId = await newCourse(5);
    // The other process reads (and remembers) that the student has no appointment...
    expect((await put(s, { opens_at: anHourAgo() })).status).toBe(200);
    expect((await remove(s)).status).toBe(204);
    const probe = newRequest(courseId, { student_id: s });
    expect((await http(other.baseUrl, 'POST', '/enroll', probe)).status).toBe(202);
    // ...then an appointment set through this one reaches it within its TTL.
    expect((await put(s, { opens_at: inAnHour() })).status).toBe(200);
    const setAt = Date.now();
    const refused = await eventually(async () => {
      // Each try a new key: until its entry expires, the other process may still accept one.
      const answer = await http(other.baseUrl, 'POST', '/enroll', newRequest(courseId, { student_id: s }));
      return answer.status === 409 ? answer : undefined;
    }, 5000);
    expect(Date.now() - setAt).toBeLessThan(500 + 1000);
    expect(refused.body.message).toContain('registration appointment opens at');
    await other.close();
  });
});
