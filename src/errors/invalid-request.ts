import type { ValidationError } from 'class-validator';
import { DomainError, DomainErrorCode, type ErrorDetail } from './domain-error.js';

/**
 * What the ValidationPipe found wrong with a body or a query, as one 400: every field and why in `details`
 * (a nested field by its dotted path), and all of it, joined, in `message`.
 */
export function invalidRequest(errors: ValidationError[]): DomainError {
  const details: ErrorDetail[] = [];
  const visit = (error: ValidationError, path: string) => {
    const field = path ? `${path}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) details.push({ field, message });
    for (const child of error.children ?? []) visit(child, field);
  };
  for (const error of errors) visit(error, '');
  return new DomainError(
    DomainErrorCode.RequestInvalid,
    details.map(({ message }) => message).join('; ') || 'the request is invalid',
    details,
  );
}
