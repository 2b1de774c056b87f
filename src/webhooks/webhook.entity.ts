import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A receiver registered by an operator (contract v3, Webhooks): where to POST the record's events, which
 * ones, and the secret that signs them. The secret is kept as given (it must sign every delivery) and is
 * never read back out through the API.
 */
@Entity({ name: 'webhooks' })
@Check('webhooks_events_not_empty', 'cardinality("events") > 0')
@Index('webhooks_course_id_idx', ['courseId'])
export class Webhook {
  @PrimaryGeneratedColumn({ type: 'bigint', primaryKeyConstraintName: 'webhooks_pkey' })
  id!: string;

  @Column({ type: 'varchar', length: 2048 })
  url!: string;

  @Column({ type: 'varchar', length: 256 })
  secret!: string;

  /** Event types, or ['*'] for every type (including types added later). */
  @Column({ type: 'varchar', length: 24, array: true })
  events!: string[];

  /** Only this course's events; null: every course's. */
  @Column({ name: 'course_id', type: 'integer', nullable: true })
  courseId!: number | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
