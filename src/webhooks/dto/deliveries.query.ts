import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { PageLimit } from '../../http/page-limit.js';

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

  @PageLimit('Most deliveries listed')
  limit?: number;
}
