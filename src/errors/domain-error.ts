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
  LimitBelowLoad = 'limit_below_load',
  OverrideNotFound = 'override_not_found',
  SwapForInvalid = 'swap_for_invalid',
  SwapForUnknown = 'swap_for_unknown',
  SwapTargetTaken = 'swap_target_taken',
  OfferNotOpen = 'offer_not_open',
  OfferExpired = 'offer_expired',
  OfferBlocked = 'offer_blocked',
  DrawSettingsInvalid = 'draw_settings_invalid',
  DrawPeriodBegun = 'draw_period_begun',
  AppointmentNotFound = 'appointment_not_found',
  AppointmentNotOpen = 'appointment_not_open',
  AppointmentClosed = 'appointment_closed',
  AppointmentBatchTooLarge = 'appointment_batch_too_large',
  WebhookNotFound = 'webhook_not_found',
}

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** `details` (docs/guarantees.md §9): one string per offending field, naming it (invalid body fields). */
    readonly details?: string[],
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
