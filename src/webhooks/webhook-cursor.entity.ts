import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Webhook } from './webhook.entity.js';

/**
 * How far one webhook has got through one course's record: the cursor into the event record (no second
 * store of events). `delivered_seq` is the course's last event that was delivered or did not match; the
 * next matching event after it is the one being delivered, and the retry state is that event's. A course
 * with no row yet starts at its first event (it had none when the webhook was created: the webhook's
 * creation wrote a row, at its then last event, for every course that existed).
 */
@Entity({ name: 'webhook_cursors' })
export class WebhookCursor {
  @PrimaryColumn({ name: 'webhook_id', type: 'bigint', primaryKeyConstraintName: 'webhook_cursors_pkey' })
  webhookId!: string;

  @PrimaryColumn({ name: 'course_id', type: 'integer', primaryKeyConstraintName: 'webhook_cursors_pkey' })
  courseId!: number;

  /** Removing a webhook removes its cursors. */
  @ManyToOne(() => Webhook, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'webhook_id', foreignKeyConstraintName: 'webhook_cursors_webhook_id_fkey' })
  webhook?: Webhook;

  @Column({ name: 'delivered_seq', type: 'integer' })
  deliveredSeq!: number;

  /** Failed tries of the next event (0: not tried yet, or tried and delivered). */
  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'last_error', type: 'varchar', length: 500, nullable: true })
  lastError!: string | null;

  /** When the next event is tried again; null: as soon as a deliverer gets to it. */
  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true })
  nextAttemptAt!: Date | null;

  /** When the next event's first try failed; null while not failing (the alert's clock). */
  @Column({ name: 'failing_since', type: 'timestamptz', nullable: true })
  failingSince!: Date | null;
}
