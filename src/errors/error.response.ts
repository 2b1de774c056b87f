import { ApiProperty, ApiPropertyOptional, type ApiResponseNoStatusOptions } from '@nestjs/swagger';
import { reasonPhrase } from './domain-exception.filter.js';

/** One problem of a request (see ErrorDetail). */
export class ErrorDetailResponse {
  @ApiProperty({ example: 'priority', description: "The field's dotted path, or the header's name" })
  field!: string;

  @ApiProperty({ example: 'priority must not be greater than 100' })
  message!: string;
}

/** Every error's shape, whatever its status (see DomainExceptionFilter). */
export class ErrorResponse {
  @ApiProperty({ example: 409 })
  statusCode!: number;

  @ApiProperty({ example: 'Conflict', description: "The status's reason phrase" })
  error!: string;

  @ApiProperty({ example: 'capacity 20 is below the 25 seats taken; nobody loses a seat' })
  message!: string;

  @ApiPropertyOptional({
    type: [ErrorDetailResponse],
    description: 'On a 400 for an invalid request: every field found wrong, and why',
  })
  details?: ErrorDetailResponse[];
}

/** An error response for the OpenAPI document: its meaning and an example of the body. */
export function errorResponse(
  status: number,
  description: string,
  message: string,
): ApiResponseNoStatusOptions {
  return {
    type: ErrorResponse,
    description,
    example: { statusCode: status, error: reasonPhrase(status), message },
  };
}
