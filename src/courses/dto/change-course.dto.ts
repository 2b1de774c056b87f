import { OmitType, PartialType } from '@nestjs/swagger';
import { ClosedSchema } from '../../http/closed-schema.js';
import { CreateCourseDto } from './create-course.dto.js';

/**
 * PATCH /courses/:id: any of the fields of a course but its code, with the same rules as at creation; an
 * absent field stays as it is, a null window side removes that limit. `skipNullProperties: false`: a field
 * the document does not make nullable (title, capacity…) refuses null instead of taking it for absent.
 */
@ClosedSchema()
export class ChangeCourseDto extends PartialType(OmitType(CreateCourseDto, ['code'] as const), {
  skipNullProperties: false,
}) {}
