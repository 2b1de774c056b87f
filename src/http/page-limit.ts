import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/**
 * A `limit` query parameter: an integer 1..1000, absent meaning `absent` (said in the description, not as
 * `default`, so a generated client's parameter type stays optional). Only the digits of an integer become
 * one: `1e2`, `0x10`, ` 5` and `5.0` stay text, and are refused.
 */
export const PageLimit = (what: string, absent = 100) =>
  applyDecorators(
    ApiProperty({
      required: false,
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      example: absent,
      description: `${what}; absent: ${absent}`,
    }),
    IsOptional(),
    Transform(({ value }) =>
      typeof value === 'string' && /^-?(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : value,
    ),
    IsInt(),
    Min(1),
    Max(1000),
  );
