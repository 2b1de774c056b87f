import { Column, Entity, PrimaryColumn } from 'typeorm';

export type { DrawnEntry } from '../queue/allocation-queue.contract.js';
import type { DrawnEntry } from '../queue/allocation-queue.contract.js';

/**
 * A course's opening draw (contract v3, Fair opening). The seed is chosen when the draw is configured, and
 * its SHA-256 published at once; the seed itself is shown once the draw is made (drawn_at), with the
 * entries in draw order. Written only by the course ledger, under the course row's lock.
 */
@Entity({ name: 'course_draws' })
export class CourseDraw {
  @PrimaryColumn({ name: 'course_id', type: 'integer', primaryKeyConstraintName: 'course_draws_pkey' })
  courseId!: number;

  /** 64 hex characters from crypto.randomBytes(32); secret until drawn. */
  @Column({ type: 'varchar', length: 64 })
  seed!: string;

  /** Hex SHA-256 of the seed's UTF-8 text, published from the start. */
  @Column({ name: 'seed_sha256', type: 'char', length: 64 })
  seedSha256!: string;

  @Column({ name: 'drawn_at', type: 'timestamptz', nullable: true })
  drawnAt!: Date | null;

  /** The entries in draw order, once drawn. */
  @Column({ type: 'jsonb', nullable: true })
  entries!: DrawnEntry[] | null;
}
