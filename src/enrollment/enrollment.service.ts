import { IDEMPOTENCY_KEY_PATTERN } from '../decisions/vocabulary.js';
import { Inject, Injectable } from '@nestjs/common';
import { type DecidedRequest, DecisionsService } from '../decisions/decisions.service.js';
import { CourseLedger, type LedgerRequest } from '../courses/course-ledger.js';
import { type Admission, CoursesService } from '../courses/courses.service.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { type EnrollRequestDto } from './dto/enroll-request.dto.js';
import {
  decidedView,
  type EnrollmentRequestResponse,
  queuedView,
} from '../decisions/dto/enrollment-request.response.js';
import { EnrollmentQueue } from './enrollment.queue.js';
import type { AcceptedRequest } from '../queue/allocation-queue.contract.js';
import { IdempotencyStore } from './idempotency.store.js';
import { queueUnavailable } from '../queue/queue-unavailable.js';
import { EventsService } from '../events/events.service.js';
import type { CourseEventResponse } from '../events/dto/course-event.response.js';
import { ScheduleReader } from '../schedules/schedule.reader.js';
import { SwapClaims } from './swap-claims.js';
import { AppointmentsService } from '../appointments/appointments.service.js';
import type { CrossFieldRule } from '../http/cross-field-rules.js';

interface Submission {
  /** True when this call queued the request (202); false for a replay of a known key (200). */
  accepted: boolean;
  request: EnrollmentRequestResponse;
}

/**
 * How many requests' identities (student, course, priority, acceptance time: what never changes about a
 * request once its key is claimed) the service remembers, so a DELETE looks its request up once, in the
 * rate limit, rather than again in the handler.
 */
const REMEMBERED_IDENTITIES = 10_000;

/** Arbitration: validate against the world, claim the idempotency key, queue. Never decides. */
@Injectable()
export class EnrollmentService {
  private readonly identities = new Map<string, AcceptedRequest>();

  constructor(
    @Inject(CoursesService) private readonly courses: CoursesService,
    @Inject(IdempotencyStore) private readonly idempotency: IdempotencyStore,
    @Inject(EnrollmentQueue) private readonly queue: EnrollmentQueue,
    @Inject(DecisionsService) private readonly decisions: DecisionsService,
    @Inject(CourseLedger) private readonly ledger: CourseLedger,
    @Inject(EventsService) private readonly eventsService: EventsService,
    @Inject(ScheduleReader) private readonly schedules: ScheduleReader,
    @Inject(SwapClaims) private readonly swapClaims: SwapClaims,
    @Inject(AppointmentsService) private readonly appointments: AppointmentsService,
  ) {}

  async submit(dto: EnrollRequestDto, headerKey: string | undefined): Promise<Submission> {
    const key = resolveIdempotencyKey(dto.idempotency_key, headerKey);
    const acceptedAt = new Date();
    // Both checks at once; the course's answer (404, its window) comes first when both refuse.
    const appointment = this.appointments.assertWithin(dto.student_id, acceptedAt);
    appointment.catch(() => undefined);
    const admission = await this.courses.assertOpen(dto.course_id, acceptedAt);
    await appointment;
    const request: AcceptedRequest = {
      studentId: dto.student_id,
      courseId: dto.course_id,
      priority: dto.priority ?? 0,
      requestedAt: acceptedAt.toISOString(),
      ...(dto.swap_for === undefined ? {} : { swapFor: dto.swap_for }),
    };
    if (request.swapFor !== undefined) return this.submitSwap(key, request, admission);

    const claimant = await unavailableOnFailure(() => this.enqueue(key, request, admission));
    if (claimant) return this.replay(key, request, claimant);
    return { accepted: true, request: queuedView(key, request) };
  }

  /**
   * A request with a swap (contract v3): a replay is answered as any; a new one must name a request of the
   * same student for another course (422 otherwise, one message that tells nothing else), which no other
   * pending swap names (409). The named request is claimed in PostgreSQL before the swap is queued; the
   * claim is given back if the key turns out to be held by another request after all.
   */
  private async submitSwap(key: string, request: AcceptedRequest, admission: Admission): Promise<Submission> {
    const swapFor = request.swapFor!;
    if (swapFor === key) {
      throw new DomainError(DomainErrorCode.SwapForInvalid, SWAP_FOR_ITSELF.rule);
    }
    const known = await this.identityOf(key);
    if (known) return this.replay(key, request, known);
    const named = await this.identityOf(swapFor);
    if (!named || named.studentId !== request.studentId || named.courseId === request.courseId) {
      throw new DomainError(
        DomainErrorCode.SwapForUnknown,
        'swap_for must name a request of the same student for another course',
      );
    }
    await unavailableOnFailure(() => this.swapClaims.claim(swapFor, key));
    const claimant = await unavailableOnFailure(() => this.enqueue(key, request, admission));
    if (!claimant) return { accepted: true, request: queuedView(key, request) };
    if (claimant.swapFor !== swapFor) await this.swapClaims.release(swapFor, key).catch(() => undefined);
    return this.replay(key, request, claimant);
  }

  /**
   * Queues a plain request, or enters a draw entry in its course's draw (contract v3, Fair opening). The
   * acceptance time is stamped here, with nothing awaited between it and the lane: the checks before (a
   * course, an appointment, a swap's claim) take each request a different time, and requests must reach
   * their lane in the order of their requested_at, the acceptance order guarantee 4 speaks of.
   */
  private enqueue(key: string, request: AcceptedRequest, admission: Admission) {
    request.requestedAt = new Date().toISOString();
    return admission === 'draw_entry'
      ? this.queue.acceptDrawEntry(key, request)
      : this.queue.accept(key, request);
  }

  async status(key: string): Promise<EnrollmentRequestResponse> {
    const decided = await this.decisions.find(key);
    if (decided) return this.viewOf(decided);
    return queuedView(key, await this.queued(key));
  }

  /** The student who sent the request with this key, if there is one: the rate limit counts per student. */
  async studentOf(key: string): Promise<string | undefined> {
    // Called before the path's pipe has checked the key: one no request can have never reaches PostgreSQL.
    if (!IDEMPOTENCY_KEY_PATTERN.test(key)) return undefined;
    return (await this.identityOf(key))?.studentId;
  }

  /**
   * Who sent the request with this key, for which course, at what priority and when: from its decision, or
   * while it is queued from its claim; null if there is no such request. Remembered, as it never changes.
   */
  private async identityOf(key: string): Promise<AcceptedRequest | null> {
    const known = this.identities.get(key);
    if (known) return known;
    const decided = await this.decisions.find(key);
    const identity = decided
      ? {
          studentId: decided.studentId,
          courseId: decided.courseId,
          priority: decided.priority,
          requestedAt: decided.requestedAt.toISOString(),
          ...(decided.swapFor ? { swapFor: decided.swapFor } : {}),
        }
      : await unavailableOnFailure(() => this.idempotency.find(key));
    if (!identity) return null;
    if (this.identities.size >= REMEMBERED_IDENTITIES) {
      this.identities.delete(this.identities.keys().next().value!);
    }
    this.identities.set(key, identity);
    return identity;
  }

  /**
   * DELETE: withdraws the request whatever its state and answers with its final state. Runs here, in the
   * ledger under the course row lock, not through the queue: the answer is synchronous, and waits at most
   * for the decision transaction holding the lock. The decision (or, while queued, the claim) names the
   * course to lock; the final row comes from inside the ledger's transaction.
   */
  async withdraw(key: string): Promise<EnrollmentRequestResponse> {
    return decidedView(await this.ledger.withdraw(await this.ledgerRequestOf(key)));
  }

  /** POST /enrollments/:key/accept: an offered request enrolled, in the ledger under the course lock. */
  async accept(key: string): Promise<EnrollmentRequestResponse> {
    return decidedView(await this.ledger.acceptOffer(await this.ledgerRequestOf(key)));
  }

  /** The request with this key as the ledger takes it (404 if there is none). */
  private async ledgerRequestOf(key: string): Promise<LedgerRequest> {
    const request = await this.identityOf(key);
    if (!request) throw notFound(key);
    return {
      idempotencyKey: key,
      studentId: request.studentId,
      courseId: request.courseId,
      priority: request.priority,
      requestedAt: request.requestedAt,
      ...(request.swapFor ? { swapFor: request.swapFor } : {}),
    };
  }

  /** A request's events, in order; none yet while it is queued. */
  async events(key: string): Promise<CourseEventResponse[]> {
    const events = await this.eventsService.forRequest(key);
    if (events.length === 0 && !(await this.decisions.find(key))) await this.queued(key);
    return events;
  }

  /** A student's requests, newest first: the decided ones from PostgreSQL, the queued ones from their claims. */
  async studentRequests(studentId: string): Promise<EnrollmentRequestResponse[]> {
    const [decided, claimed] = await Promise.all([
      this.decisions.findByStudent(studentId),
      unavailableOnFailure(() => this.idempotency.findByStudent(studentId)),
    ]);
    const views = (await this.schedules.withBlockedReasons(decided)).map(decidedView);
    const decidedKeys = new Set(decided.map((request) => request.idempotencyKey));
    for (const [key, accepted] of claimed) {
      if (!decidedKeys.has(key)) views.push(queuedView(key, accepted));
    }
    return views.sort(
      (a, b) =>
        b.requested_at.localeCompare(a.requested_at) || b.idempotency_key.localeCompare(a.idempotency_key),
    );
  }

  /** The claim of a key not decided yet; EnrollmentNotFound if none. */
  private async queued(key: string): Promise<AcceptedRequest> {
    const accepted = await unavailableOnFailure(() => this.idempotency.find(key));
    if (!accepted) throw notFound(key);
    return accepted;
  }

  private async replay(
    key: string,
    request: AcceptedRequest,
    claimant: AcceptedRequest,
  ): Promise<Submission> {
    // Named as the client sent them.
    const differing = (
      [
        ['student_id', 'studentId'],
        ['course_id', 'courseId'],
        ['priority', 'priority'],
        ['swap_for', 'swapFor'],
      ] as const
    )
      .filter(([, field]) => (claimant[field] ?? null) !== (request[field] ?? null))
      .map(([name]) => name);
    if (differing.length > 0) {
      throw new DomainError(
        DomainErrorCode.IdempotencyKeyReused,
        `idempotency_key was used for another request (${differing.join(', ')} differ)`,
      );
    }
    // The claim and its job were stored together, so a claimed key is queued until it is decided.
    const decided = await this.decisions.find(key);
    return { accepted: false, request: decided ? await this.viewOf(decided) : queuedView(key, claimant) };
  }

  /** A decided request as clients see it, with why it is blocked if it waits. */
  private async viewOf(decided: DecidedRequest): Promise<EnrollmentRequestResponse> {
    const [withReason] = await this.schedules.withBlockedReasons([decided]);
    return decidedView(withReason);
  }
}

function notFound(key: string): DomainError {
  return new DomainError(DomainErrorCode.EnrollmentNotFound, `no request with idempotency_key ${key}`);
}

/** POST /enroll's rules over its fields and its header, as the OpenAPI document states them. */
export const KEY_MISSING: CrossFieldRule = {
  fields: ['idempotency_key', 'Idempotency-Key'],
  rule: 'idempotency_key is required (in the body or as the Idempotency-Key header)',
};
export const KEY_MISMATCH: CrossFieldRule = {
  fields: ['idempotency_key', 'Idempotency-Key'],
  rule: 'idempotency_key and the Idempotency-Key header differ; send one, or the same in both',
};
export const SWAP_FOR_ITSELF: CrossFieldRule = {
  fields: ['swap_for', 'idempotency_key', 'Idempotency-Key'],
  rule: 'swap_for names the request itself; it must name another request of the same student',
};

function resolveIdempotencyKey(bodyKey: string | undefined, headerKey: string | undefined): string {
  if (headerKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(headerKey)) {
    throw new DomainError(
      DomainErrorCode.IdempotencyKeyInvalid,
      'Idempotency-Key header must be 1..128 printable ASCII characters, not . or ..',
    );
  }
  if (bodyKey !== undefined && headerKey !== undefined && bodyKey !== headerKey) {
    throw new DomainError(DomainErrorCode.IdempotencyKeyMismatch, KEY_MISMATCH.rule);
  }
  const key = bodyKey ?? headerKey;
  if (key === undefined) {
    throw new DomainError(DomainErrorCode.IdempotencyKeyMissing, KEY_MISSING.rule);
  }
  return key;
}

async function unavailableOnFailure<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw unavailableUnlessDomain(error);
  }
}

function unavailableUnlessDomain(error: unknown): DomainError {
  return error instanceof DomainError ? error : queueUnavailable();
}
