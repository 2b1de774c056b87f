import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { parseDateTime } from '../http/date-time.js';
import { CLOSES_AFTER_OPENS } from '../http/cross-field-rules.js';

/** A registration window must open before it closes (also a CHECK constraint: this names the fields). */
export function assertWindowOrder(opensAt: Date | null, closesAt: Date | null): void {
  if (opensAt && closesAt && opensAt >= closesAt) {
    throw new DomainError(DomainErrorCode.CourseWindowInvalid, CLOSES_AFTER_OPENS.rule);
  }
}

/** A date-time field as validated by the DTO (src/http/date-time.ts): absent or null means no limit. */
export function dateOrNull(value: string | null | undefined): Date | null {
  return value === undefined || value === null ? null : parseDateTime(value)!;
}
