import { Injectable, type PipeTransform } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { ApiErrorResponse } from '../http/error.response.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';

const ID_INVALID = 'id must be a course id: an integer from 1, in decimal digits without leading zeros';

/** The largest id PostgreSQL's integer holds: a bigger one cannot name a course. */
const LARGEST_ID = 2_147_483_647;

/**
 * A course id in a path, checked before it reaches PostgreSQL: an integer from 1 written in decimal digits
 * without leading zeros (`1e3`, `0x10`, `+7` and `007` are not ids: one course has one spelling), and one
 * past PostgreSQL's integer is a course that does not exist.
 */
@Injectable()
export class CourseIdPipe implements PipeTransform<string, number> {
  transform(value: string): number {
    if (!/^[1-9][0-9]*$/.test(value)) {
      throw new DomainError(DomainErrorCode.PathParameterInvalid, ID_INVALID);
    }
    const id = Number(value);
    if (id > LARGEST_ID) {
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
  ApiErrorResponse(400, 'id is not an integer from 1 in decimal digits without leading zeros', ID_INVALID);

export const ApiCourseNotFound = () => ApiErrorResponse(404, 'No such course', 'course_id 7 does not exist');
