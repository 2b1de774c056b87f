import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Fair opening (contract v3). Registration appointments per student (student_appointments). A course's
 * opening draw: its settings (draw_window_s, prequeue_s, which need opens_at), draw_pending (set while a
 * configured draw has not been carried out to its last entry; the workers' check and the sweep's partial
 * index), and course_draws: the seed chosen when the draw was configured with its published SHA-256, and
 * once drawn the entries in draw order. Each drawn request keeps its draw_rank; the `drawn` event carries the
 * entry count and the revealed seed (course_changes.entries, .seed, shown by the view).
 */
export class FairOpening1796100000000 implements MigrationInterface {
  name = 'FairOpening1796100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "student_appointments" ("student_id" character varying(64) NOT NULL, "opens_at" TIMESTAMP WITH TIME ZONE NOT NULL, "closes_at" TIMESTAMP WITH TIME ZONE, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "student_appointments_window_order" CHECK ("closes_at" IS NULL OR "closes_at" > "opens_at"), CONSTRAINT "student_appointments_pkey" PRIMARY KEY ("student_id"))`,
    );
    await queryRunner.query(`ALTER TABLE "courses" ADD "draw_window_s" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "prequeue_s" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "draw_pending" boolean NOT NULL DEFAULT false`);
    await queryRunner.query(
      `ALTER TABLE "courses" ADD CONSTRAINT "courses_draw_settings" CHECK ("draw_window_s" >= 0 AND "draw_window_s" <= 3600 AND "prequeue_s" >= 0 AND "prequeue_s" <= 86400 AND ("draw_window_s" = 0 OR "opens_at" IS NOT NULL) AND ("prequeue_s" = 0 OR "draw_window_s" > 0))`,
    );
    await queryRunner.query(
      `CREATE INDEX "courses_draw_pending_idx" ON "courses" ("id") WHERE "draw_pending"`,
    );
    await queryRunner.query(
      `CREATE TABLE "course_draws" ("course_id" integer NOT NULL, "seed" character varying(64) NOT NULL, "seed_sha256" character(64) NOT NULL, "drawn_at" TIMESTAMP WITH TIME ZONE, "entries" jsonb, CONSTRAINT "course_draws_pkey" PRIMARY KEY ("course_id"))`,
    );
    await queryRunner.query(`ALTER TABLE "decisions" ADD "draw_rank" integer`);
    await queryRunner.query(`ALTER TABLE "course_changes" ADD "entries" integer`);
    await queryRunner.query(`ALTER TABLE "course_changes" ADD "seed" character varying(64)`);
    await queryRunner.query(`DROP VIEW "course_events"`);
    await queryRunner.query(`CREATE VIEW "course_events" AS
            SELECT "course_id", "decision_seq" AS "seq", "decided_as" AS "type", "idempotency_key", "student_id",
                   "decided_as" AS "status", "decided_place" AS "waitlist_position",
                   CASE WHEN "decided_as" = 'rejected' THEN "reason" END AS "reason", NULL::integer AS "capacity",
                   "decided_at" AS "at", "txid", NULL::integer AS "entries", NULL::varchar AS "seed"
              FROM "decisions" WHERE "decision_seq" IS NOT NULL
            UNION ALL
            SELECT "course_id", "seq", "type", "idempotency_key", "student_id", "status", NULL::integer, "reason",
                   "capacity", "at", "txid", "entries", "seed"
              FROM "course_changes"`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP VIEW "course_events"`);
    await queryRunner.query(`CREATE VIEW "course_events" AS
            SELECT "course_id", "decision_seq" AS "seq", "decided_as" AS "type", "idempotency_key", "student_id",
                   "decided_as" AS "status", "decided_place" AS "waitlist_position",
                   CASE WHEN "decided_as" = 'rejected' THEN "reason" END AS "reason", NULL::integer AS "capacity",
                   "decided_at" AS "at", "txid"
              FROM "decisions" WHERE "decision_seq" IS NOT NULL
            UNION ALL
            SELECT "course_id", "seq", "type", "idempotency_key", "student_id", "status", NULL::integer, "reason",
                   "capacity", "at", "txid"
              FROM "course_changes"`);
    await queryRunner.query(`ALTER TABLE "course_changes" DROP COLUMN "seed"`);
    await queryRunner.query(`ALTER TABLE "course_changes" DROP COLUMN "entries"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "draw_rank"`);
    await queryRunner.query(`DROP TABLE "course_draws"`);
    await queryRunner.query(`DROP INDEX "public"."courses_draw_pending_idx"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP CONSTRAINT "courses_draw_settings"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "draw_pending"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "prequeue_s"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "draw_window_s"`);
    await queryRunner.query(`DROP TABLE "student_appointments"`);
  }
}
