import { IDEMPOTENCY_KEY_PATTERN, STUDENT_ID_PATTERN } from '../decisions/vocabulary.js';
import { Injectable, type PipeTransform } from '@nestjs/common';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';

/**
 * An idempotency key in a path, checked before it reaches Redis or PostgreSQL: one that breaks the key's
 * pattern (a NUL byte, 129 characters) was never accepted, so no request has it. It is not echoed: it may
 * hold anything.
 */
@Injectable()
export class IdempotencyKeyParamPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (IDEMPOTENCY_KEY_PATTERN.test(value)) return value;
    throw new DomainError(
      DomainErrorCode.EnrollmentNotFound,
      'no request with that idempotency_key: a key is 1..128 printable ASCII characters, not . or ..',
    );
  }
}

/** A student id in a path: the pattern every accepted request's student_id has. */
@Injectable()
export class StudentIdParamPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (STUDENT_ID_PATTERN.test(value)) return value;
    throw new DomainError(
      DomainErrorCode.PathParameterInvalid,
      'student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
    );
  }
}
