import { ApiProperty } from '@nestjs/swagger';
import { registerDecorator, type ValidationArguments, ValidateIf } from 'class-validator';
import { ClosedSchema } from '../../http/closed-schema.js';
import { DATE_TIME_SCHEMA, IsDateTime, parseDateTime } from '../../http/date-time.js';

/** closes_at must come after opens_at (also a CHECK constraint: this names both fields). */
function IsAfterOpensAt(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isAfterOpensAt',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown, args: ValidationArguments) => {
          const opensAt = (args.object as { opens_at?: unknown }).opens_at;
          const [closes, opens] = [parseDateTime(value), parseDateTime(opensAt)];
          return !closes || !opens || closes > opens;
        },
        defaultMessage: () => 'closes_at must be after opens_at',
      },
    });
}

/**
 * PUT /admin/appointments/:student_id: when the student may send POST /enroll (contract v3, Fair opening),
 * replacing any appointment they had.
 */
@ClosedSchema()
export class SetAppointmentDto {
  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    example: '2026-12-14T09:00:00Z',
    description: 'From when the student may send POST /enroll (RFC 3339, with an offset)',
  })
  @IsDateTime('opens_at')
  opens_at!: string;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    required: false,
    example: '2026-12-14T18:00:00Z',
    description:
      'From when the student may no longer send POST /enroll; after opens_at. Null or absent: only the ' +
      'course windows close',
  })
  @ValidateIf((_, value) => value !== undefined && value !== null)
  @IsDateTime('closes_at')
  @IsAfterOpensAt()
  closes_at?: string | null;
}
