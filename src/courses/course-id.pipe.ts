import { Injectable, type PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { ApiErrorResponse } from '../http/error.response.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';

/** The largest id PostgreSQL's integer holds: a bigger one cannot name a course. */
const LARGEST_ID = 2_147_483_647;

/**
 * A course id in a path, checked before it reaches PostgreSQL: decimal digits only (`1e3` and `0x10` are not
 * ids), and one that cannot be an integer id is a course that does not exist.
 */
@Injectable()
export class CourseIdPipe implements PipeTransform<string, number> {
  transform(value: string): number {
    if (!/^[0-9]+$/.test(value)) {
      throw new DomainError(DomainErrorCode.PathParameterInvalid, 'id must be a course id: decimal digits');
    }
    const id = Number(value);
    if (id < 1 || id > LARGEST_ID) {
      const shown = value.length > 20 ? `${value.slice(0, 20)}…` : value;
      throw new DomainError(DomainErrorCode.CourseNotFound, `course_id ${shown} does not exist`);
    }
    return id;
  }
}

/** The {id} of a course in a path: decimal digits; one past PostgreSQL's integer is a 404. */
export const ApiCourseIdParam = () =>
  ApiParam({
    name: 'id',
    description: 'A course id as GET /courses returned it',
    schema: { type: 'integer', minimum: 1, maximum: LARGEST_ID, example: 1 },
  });

export const ApiCourseIdInvalid = () =>
  ApiErrorResponse(400, 'id is not decimal digits', 'id must be a course id: decimal digits');

export const ApiCourseNotFound = () => ApiErrorResponse(404, 'No such course', 'course_id 7 does not exist');
