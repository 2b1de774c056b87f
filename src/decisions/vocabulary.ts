// The words of the record, shared by every floor above: what a student id and an idempotency key look like,
// the statuses a request passes through, and the types of event a course's record holds.

export const STUDENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7E]{1,128}$/;

/** A request's status as clients see it: queued until decided, then its decision and what became of it. */
export const REQUEST_STATUSES = [
  'queued',
  'enrolled',
  'waitlisted',
  'offered',
  'rejected',
  'cancelled',
  'dropped',
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

/** What happens to a request after its decision, and to a course: the record's rows besides the decisions. */
export type CourseChangeType =
  | 'promoted'
  | 'offered'
  | 'offer_expired'
  | 'dropped'
  | 'capacity_changed'
  | 'dead_lettered'
  | 'dead_letter_retried'
  | 'drawn';

/** Every type of event a course's record holds: each request's decision, then its later changes. */
export type CourseEventType = 'enrolled' | 'waitlisted' | 'rejected' | 'cancelled' | CourseChangeType;
