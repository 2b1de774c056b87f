import { Inject, Injectable, Logger } from '@nestjs/common';
import { DecisionsService } from '../decisions/decisions.service.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { AllocationQueues } from '../queue/allocation-queues.js';
import type { DeadLetter } from './dead-letter.entity.js';
import { DeadLetterStore } from './dead-letter.store.js';

/** The operator's side of dead letters: list them, queue one again, or reject it. */
@Injectable()
export class DeadLettersService {
  private readonly logger = new Logger(DeadLettersService.name);

  constructor(
    @Inject(DeadLetterStore) private readonly store: DeadLetterStore,
    @Inject(DecisionsService) private readonly decisions: DecisionsService,
    @Inject(AllocationQueues) private readonly queues: AllocationQueues,
  ) {}

  /** The dead letters whose request is still undecided, oldest failure first. */
  list(): Promise<DeadLetter[]> {
    return this.store.list();
  }

  /**
   * Takes the dead letter off the list and queues its request again, at the tail of its priority in its
   * partition, in one transaction that holds the course row (DeadLetterStore.takeForRetry): the decision
   * cannot come before `dead_letter_retried` on the record, and a failure leaves a dead letter or a
   * duplicate job, never a request with neither.
   */
  async retry(id: string): Promise<DeadLetter> {
    await this.find(id);
    const taken = await this.store.takeForRetry(id, (letter) => this.requeue(letter));
    if (!taken) throw notFound(id);
    this.logger.log({ msg: 'dead letter queued again', id, idempotency_keys: [taken.idempotencyKey] });
    return taken;
  }

  /**
   * Puts a dead letter's request on its partition's queue again, as a job of its own. It runs while the
   * course row is locked: with Redis away it refuses at once (503).
   */
  private async requeue(letter: DeadLetter): Promise<void> {
    const data = this.queues.jobData(letter.priority, [
      {
        idempotencyKey: letter.idempotencyKey,
        studentId: letter.studentId,
        courseId: letter.courseId,
        requestedAt: letter.requestedAt.toISOString(),
        ...(letter.swapFor ? { swapFor: letter.swapFor } : {}),
      },
    ]);
    // The request's claim names the job that first carried it; this job owns it all the same.
    await this.queues.enqueue(data, `dead-letter-${letter.id}-${Date.now()}`);
  }

  /** Decides the request rejected (reason dead_letter) and takes the dead letter off the list. */
  async reject(id: string): Promise<DeadLetter> {
    await this.find(id);
    const rejected = await this.store.reject(id);
    if (!rejected) throw notFound(id);
    this.logger.log({ msg: 'dead letter rejected', id, idempotency_keys: [rejected.idempotencyKey] });
    return rejected;
  }

  /** The request as it stands now (for the answer after an operator's action). */
  async current(letter: DeadLetter) {
    return this.decisions.find(letter.idempotencyKey);
  }

  private async find(id: string): Promise<DeadLetter> {
    const letter = await this.store.findListed(id);
    if (!letter) throw notFound(id);
    return letter;
  }
}

function notFound(id: string): DomainError {
  return new DomainError(DomainErrorCode.DeadLetterNotFound, `no dead letter with id ${id}`);
}
