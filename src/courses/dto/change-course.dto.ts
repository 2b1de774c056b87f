import { OmitType, PartialType } from '@nestjs/swagger';
import { CreateCourseDto } from './create-course.dto.js';

/**
 * PATCH /courses/:id: any of title, capacity, opens_at, closes_at, with the same rules as at creation; an
 * absent field stays as it is, a null window side removes that limit. The code never changes.
 */
export class ChangeCourseDto extends PartialType(OmitType(CreateCourseDto, ['code'] as const)) {}
