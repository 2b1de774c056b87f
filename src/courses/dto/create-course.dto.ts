import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  ValidateIf,
  ValidateNested,
  IsOptional,
  Max,
  Min,
} from 'class-validator';
import { MAX_MEETINGS } from '../../schedules/meeting.js';
import { IsOnHalfGrid, MeetingDto } from './meeting.dto.js';
import { WAITLIST_MODES, type WaitlistMode } from '../course.entity.js';
import { ClosedSchema } from '../../http/closed-schema.js';
import { DATE_TIME_SCHEMA, IsDateTime } from '../../http/date-time.js';
import { IsText, textSchema } from '../../http/text.js';

@ClosedSchema()
export class CreateCourseDto {
  @ApiProperty({ ...textSchema(32), example: 'CS101', description: 'Unique course code, whatever its case' })
  @IsText('code', 32)
  code!: string;

  @ApiProperty({ ...textSchema(200), example: 'Intro to CS' })
  @IsText('title', 200)
  title!: string;

  @ApiProperty({
    type: 'integer',
    example: 30,
    minimum: 0,
    maximum: 100000,
    description: 'Seats; 0 sends every request to the waitlist',
  })
  @IsInt()
  @Min(0)
  @Max(100000)
  capacity!: number;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    required: false,
    example: '2026-12-01T09:00:00Z',
    description: 'Registration opens (RFC 3339); null or absent: open from creation',
  })
  @IsOptional()
  @IsDateTime('opens_at')
  opens_at?: string | null;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    required: false,
    example: '2026-12-08T17:00:00Z',
    description: 'Registration closes (RFC 3339), after opens_at; null or absent: never closes',
  })
  @IsOptional()
  @IsDateTime('closes_at')
  closes_at?: string | null;

  @ApiProperty({
    type: 'number',
    minimum: 0,
    maximum: 40,
    multipleOf: 0.5,
    required: false,
    example: 4,
    description: "What enrolling costs against a student's max_credits, in steps of 0.5; default 0",
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(40)
  @IsOnHalfGrid('credits')
  credits?: number;

  @ApiProperty({
    type: [MeetingDto],
    maxItems: MAX_MEETINGS,
    required: false,
    description:
      'Weekly meetings; two courses a student is enrolled in may not overlap (same day, one starting ' +
      'before the other ends). Default []',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsArray()
  @ArrayMaxSize(MAX_MEETINGS)
  // ValidateNested walks into an array element instead of refusing it: a meeting is an object.
  @IsObject({ each: true, message: 'each of meetings must be an object { days, start, end }' })
  @ValidateNested({ each: true })
  @Type(() => MeetingDto)
  meetings?: MeetingDto[];

  @ApiProperty({
    enum: WAITLIST_MODES,
    required: false,
    example: 'auto',
    description:
      'auto: a freed seat enrolls the first waiting request that may take it; offer: it is held for that ' +
      'request, which has offer_ttl_s to accept it (POST /enrollments/:key/accept). Default auto; switching ' +
      'to auto enrolls the live offers whose students may take them now',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsIn(WAITLIST_MODES)
  waitlist_mode?: WaitlistMode;

  @ApiProperty({
    type: 'integer',
    minimum: 60,
    maximum: 604800,
    required: false,
    example: 86400,
    description: 'How long an offer stands, in seconds (offer mode); default 86400. Applies to later offers',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(60)
  @Max(604800)
  offer_ttl_s?: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    maximum: 3600,
    required: false,
    example: 300,
    description:
      'Opening draw (contract v3, Fair opening): every request accepted from opens_at - prequeue_s until ' +
      'opens_at + draw_window_s is a draw entry, decided after that moment in draw order (priority, then ' +
      'HMAC-SHA256 of the seed over "<course_id>:<student_id>"). Needs opens_at. Default 0: no draw. ' +
      'Changing it once the draw period has begun is a 409',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(0)
  @Max(3600)
  draw_window_s?: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    maximum: 86400,
    required: false,
    example: 600,
    description:
      'How long before opens_at a course with a draw starts taking draw entries; needs draw_window_s > 0. ' +
      'Default 0',
  })
  @ValidateIf((_, value) => value !== undefined)
  @IsInt()
  @Min(0)
  @Max(86400)
  prequeue_s?: number;
}
