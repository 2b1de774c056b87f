// The words of the record, shared by every floor above: what a student id and an idempotency key look like,
// the statuses a request passes through, and the types of event a course's record holds.

// Neither may be `.` or `..`: a URL path cannot carry those as a segment (clients resolve them away), and
// every student and every request must be readable at /students/<id>/… and /enrollments/<key>.
export const STUDENT_ID_PATTERN = /^(?!\.{1,2}$)[A-Za-z0-9._:-]{1,64}$/;
export const IDEMPOTENCY_KEY_PATTERN = /^(?!\.{1,2}$)[\x20-\x7E]{1,128}$/;
/**
 * The key as an Idempotency-Key header: HTTP takes the spaces at either end of a field value for
 * framing, not for the value, so a header cannot carry a key that begins or ends with one.
 */
export const IDEMPOTENCY_KEY_HEADER_PATTERN = /^(?!\.{1,2}$)[\x21-\x7E](?:[\x20-\x7E]{0,126}[\x21-\x7E])?$/;

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
