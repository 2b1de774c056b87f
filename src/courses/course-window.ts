import { DomainError, DomainErrorCode } from '../errors/domain-error.js';

/** A registration window must open before it closes (also a CHECK constraint: this names the fields). */
export function assertWindowOrder(opensAt: Date | null, closesAt: Date | null): void {
  if (opensAt && closesAt && opensAt >= closesAt) {
    throw new DomainError(
      DomainErrorCode.CourseWindowInvalid,
      `opens_at (${opensAt.toISOString()}) must be before closes_at (${closesAt.toISOString()})`,
    );
  }
}

/** An ISO 8601 field as validated by the DTO: absent or null means no limit. */
export function dateOrNull(value: string | null | undefined): Date | null {
  return value === undefined || value === null ? null : new Date(value);
}
