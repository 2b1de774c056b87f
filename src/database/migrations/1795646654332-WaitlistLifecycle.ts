import { MigrationInterface, QueryRunner } from 'typeorm';

export class WaitlistLifecycle1795646654332 implements MigrationInterface {
  name = 'WaitlistLifecycle1795646654332';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."decisions_course_id_idx"`);
    await queryRunner.query(
      `CREATE TABLE "course_changes" ("course_id" integer NOT NULL, "seq" integer NOT NULL, "type" character varying(24) NOT NULL, "idempotency_key" character varying(128), "student_id" character varying(64), "status" character varying(16), "capacity" integer, "at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "course_changes_pkey" PRIMARY KEY ("course_id", "seq"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "course_changes_idempotency_key_idx" ON "course_changes"  ("idempotency_key") `,
    );
    await queryRunner.query(`ALTER TABLE "decisions" ADD "decided_as" character varying(16)`);
    await queryRunner.query(`ALTER TABLE "decisions" ADD "decision_seq" integer`);
    await queryRunner.query(`ALTER TABLE "decisions" ADD "decided_place" integer`);
    await queryRunner.query(`ALTER TABLE "decisions" ADD "promoted_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "decisions" ADD "dropped_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "waitlist_offset" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "events_written" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "opens_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "closes_at" TIMESTAMP WITH TIME ZONE`);
    // Hand-written from here to the indexes: TypeORM does not diff a unique constraint's deferrability.
    // Leaving the middle of a waitlist shifts a run of positions by one in one UPDATE; the uniqueness
    // is checked at the statement's end instead of row by row.
    await queryRunner.query(
      `ALTER TABLE "waitlist_entries" DROP CONSTRAINT "waitlist_entries_course_position_key"`,
    );
    await queryRunner.query(
      `ALTER TABLE "waitlist_entries" ADD CONSTRAINT "waitlist_entries_course_position_key" UNIQUE ("course_id", "position") DEFERRABLE INITIALLY IMMEDIATE`,
    );
    // Positions become dense (1..N per course, offset 0), as a place is now position - waitlist_offset.
    await queryRunner.query(
      `UPDATE "waitlist_entries" w SET "position" = r.place FROM (SELECT "id", row_number() OVER (PARTITION BY "course_id" ORDER BY "position") AS place FROM "waitlist_entries") r WHERE w."id" = r."id"`,
    );
    // Every decision made so far becomes its course's record, in decision order.
    await queryRunner.query(`UPDATE "decisions" d SET "decided_as" = d."status", "decision_seq" = r.seq, "decided_place" = w."position"
            FROM (SELECT "idempotency_key", row_number() OVER (PARTITION BY "course_id" ORDER BY "decided_at", "idempotency_key") AS seq
                    FROM "decisions" WHERE "course_id" IN (SELECT "id" FROM "courses")) r
            LEFT JOIN "waitlist_entries" w ON w."idempotency_key" = r."idempotency_key"
           WHERE d."idempotency_key" = r."idempotency_key"`);
    await queryRunner.query(`UPDATE "decisions" SET "decided_as" = "status" WHERE "decided_as" IS NULL`);
    await queryRunner.query(`ALTER TABLE "decisions" ALTER COLUMN "decided_as" SET NOT NULL`);
    await queryRunner.query(
      `UPDATE "courses" c SET "events_written" = d.last FROM (SELECT "course_id", max("decision_seq") AS last FROM "decisions" GROUP BY "course_id") d WHERE c."id" = d."course_id" AND d.last IS NOT NULL`,
    );
    await queryRunner.query(`CREATE INDEX "decisions_student_id_idx" ON "decisions"  ("student_id") `);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "decisions_course_decision_seq_key" ON "decisions"  ("course_id", "decision_seq") `,
    );
    await queryRunner.query(
      `ALTER TABLE "decisions" ADD CONSTRAINT "decisions_status_known" CHECK ("status" IN ('enrolled', 'waitlisted', 'rejected', 'cancelled', 'dropped'))`,
    );
    await queryRunner.query(
      `ALTER TABLE "courses" ADD CONSTRAINT "courses_window_order" CHECK ("opens_at" IS NULL OR "closes_at" IS NULL OR "opens_at" < "closes_at")`,
    );
    // A course's record: each request's decision (its row in decisions) and every later change, by the
    // course's sequence. Read by course or by key, PostgreSQL merges the two ordered index scans.
    await queryRunner.query(`CREATE VIEW "course_events" AS
            SELECT "course_id", "decision_seq" AS "seq", "decided_as" AS "type", "idempotency_key", "student_id",
                   "decided_as" AS "status", "decided_place" AS "waitlist_position", "reason", NULL::integer AS "capacity",
                   "decided_at" AS "at"
              FROM "decisions" WHERE "decision_seq" IS NOT NULL
            UNION ALL
            SELECT "course_id", "seq", "type", "idempotency_key", "student_id", "status", NULL::integer, NULL::varchar,
                   "capacity", "at"
              FROM "course_changes"`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP VIEW "course_events"`);
    await queryRunner.query(
      `ALTER TABLE "waitlist_entries" DROP CONSTRAINT "waitlist_entries_course_position_key"`,
    );
    await queryRunner.query(
      `ALTER TABLE "waitlist_entries" ADD CONSTRAINT "waitlist_entries_course_position_key" UNIQUE ("course_id", "position")`,
    );
    await queryRunner.query(`ALTER TABLE "courses" DROP CONSTRAINT "courses_window_order"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP CONSTRAINT "decisions_status_known"`);
    await queryRunner.query(`DROP INDEX "public"."decisions_course_decision_seq_key"`);
    await queryRunner.query(`DROP INDEX "public"."decisions_student_id_idx"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "closes_at"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "opens_at"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "events_written"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "waitlist_offset"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "dropped_at"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "promoted_at"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "decided_place"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "decision_seq"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "decided_as"`);
    await queryRunner.query(`DROP INDEX "public"."course_changes_idempotency_key_idx"`);
    await queryRunner.query(`DROP TABLE "course_changes"`);
    await queryRunner.query(
      `CREATE INDEX "decisions_course_id_idx" ON "decisions" USING btree ("course_id") `,
    );
  }
}
