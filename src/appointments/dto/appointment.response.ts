import { ApiProperty } from '@nestjs/swagger';
import { STUDENT_ID_PATTERN } from '../../decisions/vocabulary.js';
import type { StudentAppointment } from '../student-appointment.entity.js';
import { MAX_APPOINTMENTS_PER_CALL } from './appointment-batch.js';
import { DATE_TIME_SCHEMA } from '../../http/date-time.js';
import { ClosedSchema } from '../../http/closed-schema.js';

/** A student's registration appointment (contract v3, Fair opening); times are ISO 8601 UTC. */
@ClosedSchema()
export class AppointmentResponse {
  @ApiProperty({ example: 's-0042', pattern: STUDENT_ID_PATTERN.source, minLength: 1, maxLength: 64 })
  student_id!: string;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    example: '2026-12-14T09:00:00.000Z',
    description: 'From when the student may send POST /enroll',
  })
  opens_at!: string;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    example: '2026-12-14T18:00:00.000Z',
    description: 'From when the student may no longer send POST /enroll; null: only the course windows close',
  })
  closes_at!: string | null;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    example: '2026-12-05T10:30:00.000Z',
    description: 'When the appointment was last set',
  })
  updated_at!: string;

  static from(row: StudentAppointment): AppointmentResponse {
    return {
      student_id: row.studentId,
      opens_at: row.opensAt.toISOString(),
      closes_at: row.closesAt?.toISOString() ?? null,
      updated_at: row.updatedAt.toISOString(),
    };
  }
}

/** POST /admin/appointments: how many rows were written (each inserted or replaced). */
@ClosedSchema()
export class AppointmentsUpsertedResponse {
  @ApiProperty({ type: 'integer', minimum: 1, maximum: MAX_APPOINTMENTS_PER_CALL, example: 2400 })
  upserted!: number;
}
