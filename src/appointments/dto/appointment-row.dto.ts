import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import { STUDENT_ID_PATTERN } from '../../decisions/vocabulary.js';
import { ClosedSchema } from '../../http/closed-schema.js';
import { SetAppointmentDto } from './set-appointment.dto.js';

/** One row of POST /admin/appointments: a student's appointment, as PUT takes it, with the student named. */
@ClosedSchema()
export class AppointmentRowDto extends SetAppointmentDto {
  @ApiProperty({ example: 's-0042', pattern: STUDENT_ID_PATTERN.source, minLength: 1, maxLength: 64 })
  @IsString()
  @Matches(STUDENT_ID_PATTERN, {
    message: 'student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
  })
  student_id!: string;
}
