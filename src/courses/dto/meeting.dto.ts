import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, registerDecorator, type ValidationArguments, ValidateBy } from 'class-validator';
import { ClosedSchema } from '../../http/closed-schema.js';
import { MEETING_DAYS, MEETING_DAYS_PATTERN, MEETING_TIME_PATTERN } from '../../schedules/meeting.js';
import type { CrossFieldRule } from '../../http/cross-field-rules.js';

/** Credits and credit limits come in steps of 0.5 (the contract's grid). */
export const IsOnHalfGrid = (field: string): PropertyDecorator =>
  ValidateBy({
    name: 'isOnHalfGrid',
    validator: {
      validate: (value: unknown) => typeof value !== 'number' || Number.isInteger(value * 2),
      defaultMessage: () => `${field} must be a multiple of 0.5`,
    },
  });

/** The rule IsAfterStart enforces, as the OpenAPI document states it (x-cross-field-rules). */
export const MEETING_ENDS_AFTER_START: CrossFieldRule = {
  fields: ['meetings.start', 'meetings.end'],
  rule: 'end must be after start',
};

/** `end` must come after `start` (both HH:MM, so comparing the strings compares the times). */
function IsAfterStart(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isAfterStart',
      target: target.constructor,
      propertyName: propertyName as string,
      validator: {
        validate: (value: unknown, args: ValidationArguments) => {
          const start = (args.object as { start?: unknown }).start;
          if (typeof value !== 'string' || typeof start !== 'string') return true;
          if (!MEETING_TIME_PATTERN.test(value) || !MEETING_TIME_PATTERN.test(start)) return true;
          return value > start;
        },
        defaultMessage: () => MEETING_ENDS_AFTER_START.rule,
      },
    });
}

/** One weekly meeting: `{ "days": "MWF", "start": "09:00", "end": "09:50" }`. */
@ClosedSchema()
export class MeetingDto {
  @ApiProperty({
    example: 'MWF',
    pattern: MEETING_DAYS_PATTERN.source,
    minLength: 1,
    maxLength: 7,
    description: `Days it meets, each once, from ${MEETING_DAYS} (R is Thursday, S Saturday, U Sunday)`,
  })
  @IsString()
  @Matches(MEETING_DAYS_PATTERN, { message: `days must be 1..7 distinct letters from ${MEETING_DAYS}` })
  days!: string;

  @ApiProperty({ example: '09:00', pattern: MEETING_TIME_PATTERN.source, description: '24-hour HH:MM' })
  @IsString()
  @Matches(MEETING_TIME_PATTERN, { message: 'start must be a 24-hour time HH:MM' })
  start!: string;

  @ApiProperty({
    example: '09:50',
    pattern: MEETING_TIME_PATTERN.source,
    description:
      '24-hour HH:MM, after start; a meeting ending at 09:50 does not overlap one starting at 09:50',
  })
  @IsString()
  @Matches(MEETING_TIME_PATTERN, { message: 'end must be a 24-hour time HH:MM' })
  @IsAfterStart()
  end!: string;
}
