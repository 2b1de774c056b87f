import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { IdempotencyStore } from './idempotency.store.js';

/** How often a claim is taken over from a swap that turned out not pending, before giving up (a 409). */
const TAKEOVER_ATTEMPTS = 3;
/**
 * How long an undecided swap without a claim in the queue still counts as pending: its API may be between
 * this row and the queue. Past it, the swap never got there (its API failed), and the row is taken over.
 */
const QUEUEING_GRACE_SECONDS = 10;

/**
 * At most one pending swap names a request (contract v3, Swap: a second → 409), whichever API processes
 * take them: one swap_claims row per named request, written before the swap is queued. A row whose swap
 * is no longer pending — decided for good (enrolled, rejected, dropped, cancelled), or never queued (its
 * API failed between this row and the queue, QUEUEING_GRACE_SECONDS ago) — is taken over.
 */
@Injectable()
export class SwapClaims {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(IdempotencyStore) private readonly idempotency: IdempotencyStore,
  ) {}

  /** Claims `targetKey` for the swap `swapKey`; a claim it holds already is kept. 409 if another holds it. */
  async claim(targetKey: string, swapKey: string): Promise<void> {
    for (let attempt = 1; attempt <= TAKEOVER_ATTEMPTS; attempt += 1) {
      const taken: unknown[] = await this.dataSource.query(
        `INSERT INTO swap_claims AS c (target_key, swap_key) VALUES ($1, $2)
         ON CONFLICT (target_key) DO UPDATE SET swap_key = EXCLUDED.swap_key, created_at = now()
          WHERE c.swap_key = EXCLUDED.swap_key
             OR EXISTS (SELECT 1 FROM decisions d WHERE d.idempotency_key = c.swap_key
                         AND d.status IN ('enrolled', 'rejected', 'dropped', 'cancelled'))
         RETURNING swap_key`,
        [targetKey, swapKey],
      );
      if (taken.length > 0) return;
      const [holder]: Array<{ swap_key: string; queueing: boolean }> = await this.dataSource.query(
        `SELECT swap_key, created_at > now() - make_interval(secs => $2) AS queueing
           FROM swap_claims WHERE target_key = $1`,
        [targetKey, QUEUEING_GRACE_SECONDS],
      );
      // Undecided: pending while its claim holds it in the queue, or while it may be on its way there.
      if (holder && (holder.queueing || (await this.idempotency.find(holder.swap_key)))) {
        throw new DomainError(
          DomainErrorCode.SwapTargetTaken,
          `swap_for ${targetKey} is already named by the pending swap ${holder.swap_key}`,
        );
      }
      if (holder) {
        await this.dataSource.query('DELETE FROM swap_claims WHERE target_key = $1 AND swap_key = $2', [
          targetKey,
          holder.swap_key,
        ]);
      }
    }
    throw new DomainError(
      DomainErrorCode.SwapTargetTaken,
      `swap_for ${targetKey} is being claimed by another swap; try again`,
    );
  }

  /** Gives a claim back (the swap was not queued after all: its key turned out to name another request). */
  async release(targetKey: string, swapKey: string): Promise<void> {
    await this.dataSource.query('DELETE FROM swap_claims WHERE target_key = $1 AND swap_key = $2', [
      targetKey,
      swapKey,
    ]);
  }
}
