import { DATE_TIME_SCHEMA } from '../../http/date-time.js';
import { REQUEST_STATUSES, type CourseEventType, type RequestStatus } from '../../decisions/vocabulary.js';
import { ApiProperty } from '@nestjs/swagger';
import {
  DROP_REASONS,
  type DropReason,
  REJECTION_REASONS,
  type RejectionReason,
} from '../../decisions/decision.entity.js';
import { ClosedSchema } from '../../http/closed-schema.js';

export const EVENT_TYPES: CourseEventType[] = [
  'enrolled',
  'waitlisted',
  'rejected',
  'promoted',
  'offered',
  'offer_expired',
  'dropped',
  'cancelled',
  'capacity_changed',
  'dead_lettered',
  'dead_letter_retried',
  'drawn',
];

/** An event's id: its course and its place in the course's record (see eventId). */
export const EVENT_ID_PATTERN = '^[1-9][0-9]{0,9}-[1-9][0-9]{0,9}$';

/** One change, as the record keeps it. */
@ClosedSchema()
export class CourseEventResponse {
  @ApiProperty({
    example: '42',
    description: "Opaque; the course's event sequence number, in commit order. Resume after it with ?after=",
  })
  cursor!: string;

  @ApiProperty({
    pattern: EVENT_ID_PATTERN,
    example: '7-43',
    description:
      'Names this event alone and is the same wherever it is read (REST, /ws, webhooks): a webhook ' +
      'receiver dedupes by it. Opaque',
  })
  id!: string;

  @ApiProperty({ enum: EVENT_TYPES, enumName: 'EventType', example: 'promoted' })
  type!: CourseEventType;

  @ApiProperty({ type: 'integer', minimum: 1, maximum: 2_147_483_647, example: 1 })
  course_id!: number;

  @ApiProperty({ type: String, nullable: true, example: 's-0042', description: 'Null for capacity_changed' })
  student_id!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: 'portal-7f3a9c1e',
    description: 'Null for capacity_changed',
  })
  idempotency_key!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    enum: [...REQUEST_STATUSES, null],
    example: 'enrolled',
    description:
      "The request's status right after the event (a promoted event carries enrolled); null for capacity_changed",
  })
  status!: RequestStatus | null;

  @ApiProperty({
    type: 'integer',
    minimum: 1,
    nullable: true,
    example: null,
    description: "The request's waitlist place right after the event; null unless waitlisted",
  })
  waitlist_position!: number | null;

  @ApiProperty({
    type: String,
    nullable: true,
    enum: [...REJECTION_REASONS, ...DROP_REASONS, null],
    example: null,
    description:
      'Set for rejected (its reason), and for a drop with a cause (swapped: the request that named it ' +
      'in swap_for got its seat, in this same transaction; declined: an offer declined; offer_expired)',
  })
  reason!: RejectionReason | DropReason | null;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    maximum: 100_000,
    nullable: true,
    example: null,
    description: 'The new capacity, for capacity_changed',
  })
  capacity!: number | null;

  @ApiProperty({ ...DATE_TIME_SCHEMA, example: '2026-11-25T09:00:00.012Z' })
  at!: string;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    required: false,
    example: 240,
    description: 'Only on drawn: how many entries the opening draw had',
  })
  entries?: number;

  @ApiProperty({
    type: String,
    required: false,
    pattern: '^[0-9a-f]{64}$',
    example: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    description: 'Only on drawn: the seed, revealed (its SHA-256 was published by GET /courses/:id/draw)',
  })
  seed?: string;

  @ApiProperty({
    type: String,
    nullable: true,
    pattern: '^[0-9]{1,20}$',
    example: '48213',
    description:
      'The transaction that committed it: events of one commit (a drop and the promotion it caused) share ' +
      'it, no two commits do. Decimal digits in a string (it may pass 2^53); null for events recorded ' +
      'before v3',
  })
  txid!: string | null;
}

@ClosedSchema()
export class RequestEventsResponse {
  @ApiProperty({ type: [CourseEventResponse] })
  events!: CourseEventResponse[];
}

@ClosedSchema()
export class CourseEventsPage {
  @ApiProperty({ type: [CourseEventResponse], description: 'Empty when the reader is up to date' })
  events!: CourseEventResponse[];

  @ApiProperty({
    example: '42',
    description: 'Pass as ?after= for the next page (the same cursor when empty)',
  })
  next!: string;
}
