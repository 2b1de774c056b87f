import fc from 'fast-check';
import type { ArgumentMetadata, PipeTransform } from '@nestjs/common';
import { AppValidationPipe } from '../../http/validation.pipe.js';
import { EnrollRequestDto } from './enroll-request.dto.js';
import { acceptEnrollRequest } from './enroll-request.accept.js';

/** The decorators' verdict, through the application's pipe without a fast path: the fast path's reference. */
const reference = new AppValidationPipe();
/** The pipe as app.module.ts gives it its fast path. */
const withFastPath = () => new AppValidationPipe(new Map([[EnrollRequestDto, acceptEnrollRequest]]));
const asBody: ArgumentMetadata = { type: 'body', metatype: EnrollRequestDto };

async function verdict(pipe: PipeTransform, body: unknown): Promise<{ ok: unknown } | { refused: unknown }> {
  try {
    // Own fields only, as JSON would carry them: the class instance may hold declared fields as undefined.
    return { ok: JSON.parse(JSON.stringify(await pipe.transform(body, asBody))) as unknown };
  } catch (error) {
    return { refused: error };
  }
}

const anyValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 2_147_483_650 }),
  fc.constantFrom(0, 1, 100, 101, -1, 1.5, 2_147_483_647, 2_147_483_648, Number.MAX_SAFE_INTEGER),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 70 }),
  fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/),
  fc.constantFrom('', ' ', 's 42', 'x'.repeat(65), '~'.repeat(128), '~'.repeat(129), 'é', '\u0000'),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);
const validBody = fc.record(
  {
    student_id: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/),
    course_id: fc.integer({ min: 1, max: 2_147_483_647 }),
    priority: fc.option(fc.integer({ min: 0, max: 100 })),
    idempotency_key: fc.option(fc.stringMatching(/^[\x20-\x7E]{1,128}$/)),
  },
  { requiredKeys: ['student_id', 'course_id'] },
);
/** Bodies near the valid ones: a field swapped for any value, removed, or an unknown one added. */
const nearBody = fc
  .tuple(
    validBody,
    fc.constantFrom('student_id', 'course_id', 'priority', 'idempotency_key', 'seat', '__proto__'),
    fc.option(anyValue, { nil: undefined }),
  )
  .map(([body, field, value]) => {
    const near: Record<string, unknown> = { ...body };
    if (value === undefined) delete near[field];
    else Object.defineProperty(near, field, { value, enumerable: true, writable: true, configurable: true });
    return near;
  });
const anyBody = fc.oneof(validBody, nearBody, nearBody, anyValue);

describe('acceptEnrollRequest (the fast path of POST /enroll validation)', () => {
  it('accepts exactly what the decorators accept, unchanged, and the pipe answers as the reference does', async () => {
    const pipe = withFastPath();
    await fc.assert(
      fc.asyncProperty(anyBody, async (body) => {
        const expected = await verdict(reference, body);
        const fast = acceptEnrollRequest(body);
        const isPlainObject =
          body !== null && typeof body === 'object' && Object.getPrototypeOf(body) === Object.prototype;
        if ('ok' in expected && isPlainObject) {
          expect(fast).toBe(body);
          expect(JSON.parse(JSON.stringify(fast))).toEqual(expected.ok);
        } else {
          expect(fast).toBeUndefined();
        }
        expect(await verdict(pipe, body)).toEqual(expected);
      }),
      { numRuns: 3_000 },
    );
  });

  it('leaves other bodies, queries and parameters to the decorators', async () => {
    const pipe = withFastPath();
    const body = { student_id: 's-1', course_id: 1 };
    class Other {}
    await expect(Promise.resolve(pipe.transform(body, { type: 'body', metatype: Other }))).rejects.toThrow();
    expect(await pipe.transform('7', { type: 'param', metatype: String })).toBe('7');
    const query = (await pipe.transform(body, { type: 'query', metatype: EnrollRequestDto })) as object;
    expect(query).toBeInstanceOf(EnrollRequestDto);
  });
});
