import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Course } from '../courses/course.entity.js';
import { CourseLedger, type LedgerRequest, type NewEvent } from '../courses/course-ledger.js';
import { isConnectionError } from '../database/database-errors.js';
import type { DeadLetter } from './dead-letter.entity.js';

/** Whether a repeated setting aside of the same request adds its attempts or keeps the first row. */
export type DeadLetterRepeat = 'add attempts' | 'keep';

/**
 * The one owner of the dead_letters rows. Each change takes the request's course row lock first, through
 * the ledger (one lock order everywhere), so an operator's action and a worker setting the same request
 * aside again wait for each other instead of deadlocking, and the course's record gets its event in the
 * same transaction.
 */
@Injectable()
export class DeadLetterStore {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CourseLedger) private readonly ledger: CourseLedger,
  ) {}

  /** The dead letters whose request is still undecided, oldest failure first. */
  async list(): Promise<DeadLetter[]> {
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT * FROM dead_letters d
        WHERE NOT EXISTS (SELECT 1 FROM decisions WHERE idempotency_key = d.idempotency_key)
        ORDER BY failed_at, id`,
    );
    return rows.map(deadLetterOf);
  }

  /** A listed dead letter (its request undecided), or null; an id that is not a number is never one. */
  async findListed(id: string): Promise<DeadLetter | null> {
    if (!/^[1-9][0-9]{0,17}$/.test(id)) return null;
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT * FROM dead_letters d WHERE id = $1
          AND NOT EXISTS (SELECT 1 FROM decisions WHERE idempotency_key = d.idempotency_key)`,
      [id],
    );
    return rows[0] ? deadLetterOf(rows[0]) : null;
  }

  /**
   * Sets a request aside as a dead letter (or records one more failure of it), with a `dead_lettered`
   * event: it stays queued, with no decision, until an operator acts. Nothing happens if it was decided
   * meanwhile. If even this transaction fails (say, the course row itself is what breaks), the dead letter
   * is written alone, without its event, so the request is never left in silence.
   */
  async setAside(
    request: LedgerRequest,
    error: string,
    attempts: number,
    repeat: DeadLetterRepeat = 'add attempts',
  ): Promise<void> {
    // 'keep': a request several processes may set aside for the same failure (a failed job every worker
    // hears of) is written, and recorded, once.
    const onConflict =
      repeat === 'keep'
        ? 'DO NOTHING'
        : 'DO UPDATE SET error = EXCLUDED.error, attempts = dead_letters.attempts + EXCLUDED.attempts, failed_at = now()';
    const write = async (manager: EntityManager): Promise<boolean> => {
      const written: unknown[] = await manager.query(
        `INSERT INTO dead_letters (idempotency_key, student_id, course_id, priority, requested_at, error, attempts,
                                   swap_for)
         SELECT $1::varchar, $2::varchar, $3::int, $4::smallint, $5::timestamptz, $6::text, $7::int, $8::varchar
          WHERE NOT EXISTS (SELECT 1 FROM decisions WHERE idempotency_key = $1::varchar)
         ON CONFLICT (idempotency_key) ${onConflict}
         RETURNING id`,
        [
          request.idempotencyKey,
          request.studentId,
          request.courseId,
          request.priority,
          request.requestedAt,
          error,
          attempts,
          request.swapFor ?? null,
        ],
      );
      return written.length > 0;
    };
    try {
      await this.dataSource.transaction(async (manager) => {
        const [course] = await this.ledger.lock(manager, [request.courseId]);
        if (await this.ledger.requestState(manager, request.idempotencyKey)) return;
        if (!(await write(manager)) || !course) return;
        await this.ledger.record(manager, course, [deadLetterEvent('dead_lettered', request)]);
      });
    } catch (recordError) {
      if (isConnectionError(recordError)) throw recordError;
      await write(this.dataSource.manager);
    }
  }

  /**
   * Takes a dead letter off the list to be queued again, with a `dead_letter_retried` event, and queues it
   * (requeue) before the commit: a queue that refuses leaves it listed, and a commit that fails after the
   * job was queued leaves a duplicate the worker skips, never a loss. Returns the request, or null for an
   * unknown id.
   */
  takeForRetry(id: string, requeue: (letter: DeadLetter) => Promise<void>): Promise<DeadLetter | null> {
    return this.dataSource.transaction(async (manager) => {
      const taken = await this.takeOffList(manager, id);
      if (!taken) return null;
      const { letter, course } = taken;
      if (course && !(await this.ledger.requestState(manager, letter.idempotencyKey))) {
        await this.ledger.record(manager, course, [
          deadLetterEvent('dead_letter_retried', letterRequest(letter)),
        ]);
      }
      // Queued while this transaction holds the course row: the decision waits for the commit, so it
      // follows dead_letter_retried on the record; a queue that refuses the job rolls all of it back.
      await requeue(letter);
      return letter;
    });
  }

  /**
   * Decides a dead letter's request `rejected` (reason dead_letter), its one decision, and takes it off
   * the list. Returns the dead letter as it was, or null for an unknown id.
   */
  reject(id: string): Promise<DeadLetter | null> {
    return this.dataSource.transaction(async (manager) => {
      const taken = await this.takeOffList(manager, id);
      if (!taken) return null;
      const { letter, course } = taken;
      if (!(await this.ledger.requestState(manager, letter.idempotencyKey))) {
        await this.ledger.decideQueued(manager, course, letterRequest(letter), 'rejected');
      }
      return letter;
    });
  }

  /**
   * Deletes a dead letter under its course's row lock, taken first, as setAside() takes it before writing
   * the row.
   */
  private async takeOffList(
    manager: EntityManager,
    id: string,
  ): Promise<{ letter: DeadLetter; course: Course | undefined } | null> {
    const [found]: Array<{ course_id: number }> = await manager.query(
      'SELECT course_id FROM dead_letters WHERE id = $1',
      [id],
    );
    if (!found) return null;
    const [course] = await this.ledger.lock(manager, [found.course_id]);
    // TypeORM answers a DELETE … RETURNING with [rows, affected count].
    const [[deleted]]: [Array<Record<string, unknown>>, number] = await manager.query(
      'DELETE FROM dead_letters WHERE id = $1 RETURNING *',
      [id],
    );
    return deleted ? { letter: deadLetterOf(deleted), course } : null;
  }
}

function deadLetterEvent(type: 'dead_lettered' | 'dead_letter_retried', request: LedgerRequest): NewEvent {
  return { type, idempotencyKey: request.idempotencyKey, studentId: request.studentId, status: 'queued' };
}

function letterRequest(letter: DeadLetter): LedgerRequest {
  return {
    idempotencyKey: letter.idempotencyKey,
    studentId: letter.studentId,
    courseId: letter.courseId,
    priority: letter.priority,
    requestedAt: letter.requestedAt.toISOString(),
    ...(letter.swapFor ? { swapFor: letter.swapFor } : {}),
  };
}

function deadLetterOf(row: Record<string, unknown>): DeadLetter {
  return {
    id: String(row.id),
    idempotencyKey: row.idempotency_key as string,
    studentId: row.student_id as string,
    courseId: row.course_id as number,
    priority: row.priority as number,
    requestedAt: row.requested_at as Date,
    swapFor: (row.swap_for as string | null) ?? null,
    error: row.error as string,
    attempts: row.attempts as number,
    failedAt: row.failed_at as Date,
  };
}
