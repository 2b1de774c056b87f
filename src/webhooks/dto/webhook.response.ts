import { ApiProperty } from '@nestjs/swagger';
import { CourseEventResponse } from '../../events/dto/course-event.response.js';
import { ClosedSchema } from '../../http/closed-schema.js';
import { DATE_TIME_SCHEMA } from '../../http/date-time.js';
import { WEBHOOK_EVENT_CHOICES } from './create-webhook.dto.js';

/** A webhook's id as the service writes it (a bigint): one spelling per webhook, no leading zeros. */
export const WEBHOOK_ID_PATTERN = /^[1-9][0-9]{0,17}$/;

/** A webhook as operators see it: everything but its secret. */
@ClosedSchema()
export class WebhookResponse {
  @ApiProperty({
    example: '3',
    pattern: WEBHOOK_ID_PATTERN.source,
    description: 'Deliveries carry it as webhook_id',
  })
  id!: string;

  @ApiProperty({ example: 'https://sis.example.edu/courseflow/events', maxLength: 2048 })
  url!: string;

  @ApiProperty({
    type: 'array',
    items: { type: 'string', enum: [...WEBHOOK_EVENT_CHOICES] },
    minItems: 1,
    example: ['enrolled', 'promoted', 'dropped'],
  })
  events!: string[];

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 2_147_483_647, nullable: true, example: null })
  course_id!: number | null;

  @ApiProperty({ ...DATE_TIME_SCHEMA, example: '2026-12-06T09:00:00.000Z' })
  created_at!: string;
}

/** An event not delivered yet to a webhook, with the state of its tries. */
@ClosedSchema()
export class WebhookDeliveryResponse {
  @ApiProperty({ type: CourseEventResponse })
  event!: CourseEventResponse;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    example: 4,
    description: 'Failed tries so far; 0: pending (not tried yet)',
  })
  attempts!: number;

  @ApiProperty({
    type: String,
    nullable: true,
    maxLength: 500,
    example: 'HTTP 500 Internal Server Error',
    description: "The last try's failure; null while pending",
  })
  last_error!: string | null;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    example: '2026-12-06T09:00:08.000Z',
    description:
      'When it is tried again; null while pending (it goes as soon as the events before it in its ' +
      'course are delivered)',
  })
  next_attempt_at!: string | null;
}
