import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Schedules (contract v3, guarantee 8): a course's credits and meetings; one load row per student (what
 * they hold across every course, and the limits it was checked against), which every transaction that
 * changes a student's holdings locks after the course rows; operators' overrides; and the transaction id
 * of every event. The load row's CHECKs are the database's own word on guarantee 8: credits and
 * waitlists within the limit, less only what an override excused.
 */
export class Schedules1795800000000 implements MigrationInterface {
  name = 'Schedules1795800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "courses" ADD "credits" numeric(3,1) NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "meetings" jsonb NOT NULL DEFAULT '[]'`);
    await queryRunner.query(
      `ALTER TABLE "courses" ADD CONSTRAINT "courses_credits_grid" CHECK ("credits" >= 0 AND "credits" <= 40 AND "credits" * 2 = trunc("credits" * 2))`,
    );
    await queryRunner.query(
      `CREATE TABLE "student_loads" ("student_id" character varying(64) NOT NULL, "max_credits" numeric(4,1), "max_waitlisted" integer, "credit_limit" numeric(4,1), "waitlist_limit" integer, "enrolled_credits" numeric(7,1) NOT NULL DEFAULT '0', "waitlisted_count" integer NOT NULL DEFAULT '0', "excused_credits" numeric(7,1) NOT NULL DEFAULT '0', "excused_waitlists" integer NOT NULL DEFAULT '0', CONSTRAINT "student_loads_non_negative" CHECK ("enrolled_credits" >= 0 AND "waitlisted_count" >= 0 AND "excused_credits" >= 0 AND "excused_waitlists" >= 0), CONSTRAINT "student_loads_credits_within_limit" CHECK ("credit_limit" IS NULL OR "enrolled_credits" - "excused_credits" <= "credit_limit"), CONSTRAINT "student_loads_waitlists_within_limit" CHECK ("waitlist_limit" IS NULL OR "waitlisted_count" - "excused_waitlists" <= "waitlist_limit"), CONSTRAINT "student_loads_pkey" PRIMARY KEY ("student_id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "schedule_overrides" ("id" BIGSERIAL NOT NULL, "student_id" character varying(64) NOT NULL, "course_id" integer NOT NULL, "kinds" character varying(16) array NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "schedule_overrides_kinds_known" CHECK (cardinality("kinds") > 0 AND "kinds" <@ ARRAY['time_conflict', 'max_credits', 'max_waitlisted']::varchar[]), CONSTRAINT "schedule_overrides_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "schedule_overrides_student_course_idx" ON "schedule_overrides" ("student_id", "course_id") `,
    );
    await queryRunner.query(
      `ALTER TABLE "schedule_overrides" ADD CONSTRAINT "schedule_overrides_course_fkey" FOREIGN KEY ("course_id") REFERENCES "courses"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(`CREATE INDEX "enrollments_student_id_idx" ON "enrollments" ("student_id") `);
    await queryRunner.query(
      `CREATE INDEX "waitlist_entries_student_id_idx" ON "waitlist_entries" ("student_id") `,
    );
    // Every event names its transaction (txid_current(): 64-bit, never reused): one id shared by the events one commit wrote, none shared by two.
    // Events recorded before this migration have none (null).
    for (const table of ['decisions', 'course_changes']) {
      await queryRunner.query(`ALTER TABLE "${table}" ADD "txid" bigint`);
      await queryRunner.query(`ALTER TABLE "${table}" ALTER COLUMN "txid" SET DEFAULT txid_current()`);
    }
    await queryRunner.query(`CREATE OR REPLACE VIEW "course_events" AS
            SELECT "course_id", "decision_seq" AS "seq", "decided_as" AS "type", "idempotency_key", "student_id",
                   "decided_as" AS "status", "decided_place" AS "waitlist_position", "reason", NULL::integer AS "capacity",
                   "decided_at" AS "at", "txid"
              FROM "decisions" WHERE "decision_seq" IS NOT NULL
            UNION ALL
            SELECT "course_id", "seq", "type", "idempotency_key", "student_id", "status", NULL::integer, NULL::varchar,
                   "capacity", "at", "txid"
              FROM "course_changes"`);
    // What students hold today: waitlists counted, credits 0 (every course so far has 0 credits).
    await queryRunner.query(`INSERT INTO "student_loads" ("student_id", "waitlisted_count")
            SELECT "student_id", count(*) FILTER (WHERE "source" = 'w') FROM (
              SELECT "student_id", 'e' AS "source" FROM "enrollments"
              UNION ALL SELECT "student_id", 'w' FROM "waitlist_entries") AS held
            GROUP BY "student_id"`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP VIEW "course_events"`);
    await queryRunner.query(`CREATE VIEW "course_events" AS
            SELECT "course_id", "decision_seq" AS "seq", "decided_as" AS "type", "idempotency_key", "student_id",
                   "decided_as" AS "status", "decided_place" AS "waitlist_position", "reason", NULL::integer AS "capacity",
                   "decided_at" AS "at"
              FROM "decisions" WHERE "decision_seq" IS NOT NULL
            UNION ALL
            SELECT "course_id", "seq", "type", "idempotency_key", "student_id", "status", NULL::integer, NULL::varchar,
                   "capacity", "at"
              FROM "course_changes"`);
    for (const table of ['decisions', 'course_changes']) {
      await queryRunner.query(`ALTER TABLE "${table}" DROP COLUMN "txid"`);
    }
    await queryRunner.query(`DROP INDEX "public"."waitlist_entries_student_id_idx"`);
    await queryRunner.query(`DROP INDEX "public"."enrollments_student_id_idx"`);
    await queryRunner.query(`DROP TABLE "schedule_overrides"`);
    await queryRunner.query(`DROP TABLE "student_loads"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP CONSTRAINT "courses_credits_grid"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "meetings"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "credits"`);
  }
}
