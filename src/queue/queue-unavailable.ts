import { DomainError, DomainErrorCode } from '../errors/domain-error.js';

/** Redis refused or could not be reached: nothing was kept, and the client may retry (503, Retry-After). */
export const queueUnavailable = (): DomainError =>
  new DomainError(DomainErrorCode.QueueUnavailable, 'the queue (Redis) is unavailable; retry later');
