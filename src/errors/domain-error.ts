/** What went wrong, in the domain's words; DomainExceptionFilter is the one place that maps codes to HTTP. */
export enum DomainErrorCode {
  CourseNotFound = 'course_not_found',
  CourseCodeTaken = 'course_code_taken',
  EnrollmentNotFound = 'enrollment_not_found',
  IdempotencyKeyMissing = 'idempotency_key_missing',
  IdempotencyKeyInvalid = 'idempotency_key_invalid',
  IdempotencyKeyMismatch = 'idempotency_key_mismatch',
  IdempotencyKeyReused = 'idempotency_key_reused',
  QueueUnavailable = 'queue_unavailable',
  DatabaseUnavailable = 'database_unavailable',
  AdminTokenInvalid = 'admin_token_invalid',
  ClientTokenInvalid = 'client_token_invalid',
  RequestNotWithdrawable = 'request_not_withdrawable',
  CapacityBelowSeatsTaken = 'capacity_below_seats_taken',
  CourseWindowInvalid = 'course_window_invalid',
  RegistrationNotOpen = 'registration_not_open',
  RegistrationClosed = 'registration_closed',
  DeadLetterNotFound = 'dead_letter_not_found',
  PathParameterInvalid = 'path_parameter_invalid',
  RequestInvalid = 'request_invalid',
  RateLimited = 'rate_limited',
  UnsupportedMediaType = 'unsupported_media_type',
  BodyTooLarge = 'body_too_large',
}

/** One thing wrong with a request: the field (a dotted path, or the header's name) and why. */
export interface ErrorDetail {
  field: string;
  message: string;
}

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** Every problem found, when there are several (a body's invalid fields). */
    readonly details?: ErrorDetail[],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
