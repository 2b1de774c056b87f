import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';

export const DELIVERY_STATES = ['failing', 'pending'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export class DeliveriesQuery {
  @ApiProperty({
    required: false,
    enum: DELIVERY_STATES,
    description: 'failing: tried and failed; pending: not tried yet; absent: both',
  })
  @IsOptional()
  @IsIn(DELIVERY_STATES, { message: `state must be one of ${DELIVERY_STATES.join(', ')}` })
  state?: DeliveryState;

  // Absent: 100 (said, not `default`, so a generated client's parameter type stays optional).
  @ApiProperty({
    required: false,
    type: 'integer',
    minimum: 1,
    maximum: 1000,
    example: 100,
    description: 'Most deliveries listed; absent: 100',
  })
  @IsOptional()
  // Only the digits of an integer become one: `1e2`, `0x10`, ` 5` and `5.0` stay text, and are refused.
  @Transform(({ value }) =>
    typeof value === 'string' && /^-?(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : value,
  )
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
}
