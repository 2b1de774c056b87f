import { ApiSchema, type ApiSchemaOptions } from '@nestjs/swagger';

/**
 * `additionalProperties: false` on a class's schema. On a request body, it says what the validation pipe
 * does (a field the DTO does not list is a 400); on a response, that the service sends nothing unlisted.
 */
export const ClosedSchema = () => ApiSchema({ additionalProperties: false } as unknown as ApiSchemaOptions);
