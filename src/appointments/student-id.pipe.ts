import { Injectable, type PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { STUDENT_ID_PATTERN } from '../decisions/vocabulary.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { ApiErrorResponse } from '../http/error.response.js';

/**
 * A student id in a path: the pattern every accepted request's student_id has. The same check as
 * enrollment's StudentIdParamPipe, which this floor may not import (src/floors.spec.ts).
 */
@Injectable()
export class StudentIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    if (STUDENT_ID_PATTERN.test(value)) return value;
    throw new DomainError(
      DomainErrorCode.PathParameterInvalid,
      'student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
    );
  }
}

export const ApiStudentIdParam = () =>
  ApiParam({
    name: 'student_id',
    schema: {
      type: 'string',
      pattern: STUDENT_ID_PATTERN.source,
      minLength: 1,
      maxLength: 64,
      example: 's-0042',
    },
  });

export const ApiStudentIdInvalid = () =>
  ApiErrorResponse(
    400,
    'student_id is not 1..64 characters of [A-Za-z0-9._:-], not . or ..',
    'student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
  );
