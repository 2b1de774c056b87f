import { IDEMPOTENCY_KEY_PATTERN, STUDENT_ID_PATTERN } from '../../decisions/vocabulary.js';
import type { EnrollRequestDto } from './enroll-request.dto.js';

const MAX_COURSE_ID = 2_147_483_647;
const FIELDS = new Set(['student_id', 'course_id', 'priority', 'idempotency_key']);

/**
 * EnrollRequestDto's decorators, checked by hand for the body every stampede sends: a plain object of known
 * fields, each valid. Returns that body as the DTO, or undefined for anything else, which then goes through
 * class-validator for its exact 400 (AppValidationPipe). `null` is no value of an optional field: it goes
 * that way too.
 */
export function acceptEnrollRequest(body: unknown): EnrollRequestDto | undefined {
  if (body === null || typeof body !== 'object' || Object.getPrototypeOf(body) !== Object.prototype) {
    return undefined;
  }
  const fields = body as Record<string, unknown>;
  for (const key in fields) if (!FIELDS.has(key)) return undefined;
  const { student_id, course_id, priority, idempotency_key } = fields;
  if (typeof student_id !== 'string' || !STUDENT_ID_PATTERN.test(student_id)) return undefined;
  if (!isIntegerWithin(course_id, 1, MAX_COURSE_ID)) return undefined;
  if (priority !== undefined && !isIntegerWithin(priority, 0, 100)) return undefined;
  if (
    idempotency_key !== undefined &&
    (typeof idempotency_key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(idempotency_key))
  ) {
    return undefined;
  }
  return fields as unknown as EnrollRequestDto;
}

function isIntegerWithin(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}
