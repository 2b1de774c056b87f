import { ApiProperty } from '@nestjs/swagger';
import type { Course } from '../course.entity.js';
import type { CourseDraw } from '../course-draw.entity.js';
import { drawPeriodOf } from '../opening-draw.rules.js';
import { DATE_TIME_SCHEMA } from '../../http/date-time.js';
import { ClosedSchema } from '../../http/closed-schema.js';

export const DRAW_STATES = ['none', 'scheduled', 'open', 'drawn'] as const;
export type DrawState = (typeof DRAW_STATES)[number];

/**
 * A course's opening draw as anyone may read it (contract v3, Fair opening): the seed's hash from the
 * moment the draw is configured; once drawn, the seed, the entry count and the order, so anyone can
 * recompute the order (npm run verify-draw).
 */
@ClosedSchema()
export class DrawResponse {
  @ApiProperty({ type: 'integer', minimum: 1, maximum: 2_147_483_647, example: 7 })
  course_id!: number;

  @ApiProperty({
    enum: DRAW_STATES,
    example: 'drawn',
    description:
      'none: no draw; scheduled: before starts_at; open: taking entries, or past ends_at while the draw ' +
      'is being made; drawn: the order is fixed (its entries are decided in it)',
  })
  state!: DrawState;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    example: '2026-12-01T08:50:00.000Z',
    description: 'opens_at - prequeue_s: the first moment a request is a draw entry (null: no draw)',
  })
  starts_at!: string | null;

  @ApiProperty({
    ...DATE_TIME_SCHEMA,
    nullable: true,
    example: '2026-12-01T09:05:00.000Z',
    description: 'opens_at + draw_window_s: requests accepted from here on follow the draw (null: no draw)',
  })
  ends_at!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    pattern: '^[0-9a-f]{64}$',
    example: 'b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c',
    description: "Hex SHA-256 of the seed's UTF-8 text, published when the draw is configured",
  })
  seed_sha256!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    pattern: '^[0-9a-f]{64}$',
    example: null,
    description: 'The seed, null until drawn',
  })
  seed!: string | null;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    nullable: true,
    example: null,
    description: 'Null until drawn',
  })
  entries!: number | null;

  @ApiProperty({
    type: [String],
    nullable: true,
    example: null,
    description:
      "The entries' idempotency keys in draw order (priority descending, then lowercase hex " +
      'HMAC-SHA256(key = seed, message = "<course_id>:<student_id>") ascending, then acceptance order); ' +
      'null until drawn',
  })
  order!: string[] | null;

  static from(course: Course, draw: CourseDraw | null, now: Date): DrawResponse {
    const period = drawPeriodOf(course);
    const drawn = draw?.entries ?? null;
    const state: DrawState = !period
      ? drawn
        ? 'drawn'
        : 'none'
      : drawn
        ? 'drawn'
        : now < period.startsAt
          ? 'scheduled'
          : 'open';
    return {
      course_id: course.id,
      state,
      starts_at: period?.startsAt.toISOString() ?? null,
      ends_at: period?.endsAt.toISOString() ?? null,
      seed_sha256: period || drawn ? (draw?.seedSha256 ?? null) : null,
      seed: drawn ? draw!.seed : null,
      entries: drawn ? drawn.length : null,
      order: drawn ? drawn.map((entry) => entry.idempotencyKey) : null,
    };
  }
}
