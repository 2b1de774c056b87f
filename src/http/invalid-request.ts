import type { ValidationError } from 'class-validator';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';

/**
 * What the ValidationPipe found wrong with a body or a query, as one 400: in `details` one string per
 * offending field (docs/guarantees.md §9), its reasons joined, a nested field by its dotted path; all of it,
 * joined, in `message`.
 */
export function invalidRequest(errors: ValidationError[]): DomainError {
  const reasonsByField = new Map<string, string[]>();
  const visit = (error: ValidationError, path: string) => {
    const field = path ? `${path}.${error.property}` : error.property;
    const reasons = Object.values(error.constraints ?? {});
    if (reasons.length > 0) reasonsByField.set(field, [...(reasonsByField.get(field) ?? []), ...reasons]);
    for (const child of error.children ?? []) visit(child, field);
  };
  for (const error of errors) visit(error, '');
  const details = [...reasonsByField].map(([field, reasons]) => {
    const said = reasons.join('; ');
    // class-validator's messages start with the property's own name; a nested one gets its whole path.
    return said.startsWith(field) ? said : `${field}: ${said}`;
  });
  return new DomainError(
    DomainErrorCode.RequestInvalid,
    details.join('; ') || 'the request is invalid',
    details,
  );
}
