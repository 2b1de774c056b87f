import { MigrationInterface, QueryRunner } from 'typeorm';

export class WaitlistLifecycle1795643820019 implements MigrationInterface {
  name = 'WaitlistLifecycle1795643820019';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "events" ("course_id" integer NOT NULL, "seq" integer NOT NULL, "type" character varying(16) NOT NULL, "idempotency_key" character varying(128), "student_id" character varying(64), "status" character varying(16), "waitlist_position" integer, "reason" character varying(32), "capacity" integer, "at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "events_pkey" PRIMARY KEY ("course_id", "seq"))`,
    );
    await queryRunner.query(`CREATE INDEX "events_idempotency_key_idx" ON "events"  ("idempotency_key") `);
    await queryRunner.query(`ALTER TABLE "decisions" ADD "promoted_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "decisions" ADD "dropped_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "waitlist_offset" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "events_written" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "opens_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "courses" ADD "closes_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`CREATE INDEX "decisions_student_id_idx" ON "decisions"  ("student_id") `);
    await queryRunner.query(
      `ALTER TABLE "courses" ADD CONSTRAINT "courses_window_order" CHECK ("opens_at" IS NULL OR "closes_at" IS NULL OR "opens_at" < "closes_at")`,
    );
    // Hand-written below: TypeORM does not diff a unique constraint's deferrability.
    // Leaving the middle of a waitlist shifts a run of positions by one in one UPDATE; the uniqueness
    // is checked at the statement's end instead of row by row.
    await queryRunner.query(
      `ALTER TABLE "waitlist_entries" DROP CONSTRAINT "waitlist_entries_course_position_key"`,
    );
    await queryRunner.query(
      `ALTER TABLE "waitlist_entries" ADD CONSTRAINT "waitlist_entries_course_position_key" UNIQUE ("course_id", "position") DEFERRABLE INITIALLY IMMEDIATE`,
    );
    // Positions become dense (1..N per course, offset 0), as the place shown is now position - offset.
    await queryRunner.query(
      `UPDATE "waitlist_entries" w SET "position" = r.place FROM (SELECT "id", row_number() OVER (PARTITION BY "course_id" ORDER BY "position") AS place FROM "waitlist_entries") r WHERE w."id" = r."id"`,
    );
    // The record starts with the decisions made so far, one event each, in decision order.
    await queryRunner.query(`INSERT INTO "events" ("course_id", "seq", "type", "idempotency_key", "student_id", "status", "waitlist_position", "reason", "at")
            SELECT d."course_id", row_number() OVER (PARTITION BY d."course_id" ORDER BY d."decided_at", d."idempotency_key"), d."status", d."idempotency_key", d."student_id", d."status", w."position", d."reason", d."decided_at"
              FROM "decisions" d JOIN "courses" c ON c."id" = d."course_id" LEFT JOIN "waitlist_entries" w ON w."idempotency_key" = d."idempotency_key"`);
    await queryRunner.query(
      `UPDATE "courses" c SET "events_written" = e.last FROM (SELECT "course_id", max("seq") AS last FROM "events" GROUP BY "course_id") e WHERE c."id" = e."course_id"`,
    );
    await queryRunner.query(
      `ALTER TABLE "decisions" ADD CONSTRAINT "decisions_status_known" CHECK ("status" IN ('enrolled', 'waitlisted', 'rejected', 'cancelled', 'dropped'))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "decisions" DROP CONSTRAINT "decisions_status_known"`);
    await queryRunner.query(
      `ALTER TABLE "waitlist_entries" DROP CONSTRAINT "waitlist_entries_course_position_key"`,
    );
    await queryRunner.query(
      `ALTER TABLE "waitlist_entries" ADD CONSTRAINT "waitlist_entries_course_position_key" UNIQUE ("course_id", "position")`,
    );
    await queryRunner.query(`ALTER TABLE "courses" DROP CONSTRAINT "courses_window_order"`);
    await queryRunner.query(`DROP INDEX "public"."decisions_student_id_idx"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "closes_at"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "opens_at"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "events_written"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "waitlist_offset"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "dropped_at"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "promoted_at"`);
    await queryRunner.query(`DROP INDEX "public"."events_idempotency_key_idx"`);
    await queryRunner.query(`DROP TABLE "events"`);
  }
}
