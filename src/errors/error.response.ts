import { ApiProperty, type ApiResponseNoStatusOptions } from '@nestjs/swagger';
import { reasonPhrase } from './domain-exception.filter.js';

/** Every error's shape, whatever its status (see DomainExceptionFilter). */
export class ErrorResponse {
  @ApiProperty({ example: 409 })
  statusCode!: number;

  @ApiProperty({ example: 'Conflict', description: "The status's reason phrase" })
  error!: string;

  @ApiProperty({ example: 'capacity 20 is below the 25 seats taken; nobody loses a seat' })
  message!: string;
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
