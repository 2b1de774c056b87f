import { ApiProperty, ApiSchema, type ApiSchemaOptions } from '@nestjs/swagger';
import {
  isISO8601,
  registerDecorator,
  ValidateBy,
  type ValidationArguments,
  ValidateIf,
} from 'class-validator';

/** RFC 3339's date-time (OpenAPI's `date-time`): a date, `T`, a time and an offset (`Z` or `±hh:mm`). */
const RFC3339_DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

/**
 * An RFC 3339 date-time that names a real instant: the shape above, a date and time that exist (no
 * 2026-02-30, no 24:00, no leap second, which JavaScript cannot hold) and an offset within a day. A value
 * without an offset is refused rather than read in the server's own time zone.
 */
export function isDateTime(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    RFC3339_DATE_TIME.test(value) &&
    isISO8601(value, { strict: true, strictSeparator: true }) &&
    !Number.isNaN(Date.parse(value))
  );
}

export const IsDateTime = (field: string): PropertyDecorator =>
  ValidateBy({
    name: 'isDateTime',
    validator: {
      validate: (value: unknown) => isDateTime(value),
      defaultMessage: () =>
        `${field} must be an RFC 3339 date-time with an offset (e.g. 2026-12-01T09:00:00Z)`,
    },
  });

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
          if (!isDateTime(value) || !isDateTime(opensAt)) return true;
          return Date.parse(value) > Date.parse(opensAt);
        },
        defaultMessage: () => 'closes_at must be after opens_at',
      },
    });
}

/** The request schema says what the validation pipe does: a field it does not list is refused (400). */
export const ApiRefusesUnknownFields = () =>
  ApiSchema({ additionalProperties: false } as unknown as ApiSchemaOptions);

/**
 * PUT /admin/appointments/:student_id: when the student may send POST /enroll (contract v3, Fair opening),
 * replacing any appointment they had.
 */
@ApiRefusesUnknownFields()
export class SetAppointmentDto {
  @ApiProperty({
    type: String,
    format: 'date-time',
    example: '2026-12-14T09:00:00Z',
    description: 'From when the student may send POST /enroll (RFC 3339, with an offset)',
  })
  @IsDateTime('opens_at')
  opens_at!: string;

  @ApiProperty({
    type: String,
    format: 'date-time',
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
