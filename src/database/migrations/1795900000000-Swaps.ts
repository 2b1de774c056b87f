import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Swaps (contract v3): a request may name another request of its student that it replaces
 * (decisions.swap_for); a drop may carry its cause (course_changes.reason: swapped); and swap_claims keeps
 * one pending swap per named request — its primary key is what makes two swaps naming one request answer
 * 202 and 409, whichever API processes take them. The decision event's reason is the rejection's only: a
 * request's own reason changes when it is dropped for a cause, its decision event does not.
 */
export class Swaps1795900000000 implements MigrationInterface {
  name = 'Swaps1795900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "decisions" ADD "swap_for" character varying(128)`);
    await queryRunner.query(`ALTER TABLE "course_changes" ADD "reason" character varying(32)`);
    await queryRunner.query(`ALTER TABLE "dead_letters" ADD "swap_for" character varying(128)`);
    await queryRunner.query(
      `CREATE TABLE "swap_claims" ("target_key" character varying(128) NOT NULL, "swap_key" character varying(128) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "swap_claims_pkey" PRIMARY KEY ("target_key"))`,
    );
    await queryRunner.query(`CREATE OR REPLACE VIEW "course_events" AS
            SELECT "course_id", "decision_seq" AS "seq", "decided_as" AS "type", "idempotency_key", "student_id",
                   "decided_as" AS "status", "decided_place" AS "waitlist_position",
                   CASE WHEN "decided_as" = 'rejected' THEN "reason" END AS "reason", NULL::integer AS "capacity",
                   "decided_at" AS "at", "txid"
              FROM "decisions" WHERE "decision_seq" IS NOT NULL
            UNION ALL
            SELECT "course_id", "seq", "type", "idempotency_key", "student_id", "status", NULL::integer, "reason",
                   "capacity", "at", "txid"
              FROM "course_changes"`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE OR REPLACE VIEW "course_events" AS
            SELECT "course_id", "decision_seq" AS "seq", "decided_as" AS "type", "idempotency_key", "student_id",
                   "decided_as" AS "status", "decided_place" AS "waitlist_position", "reason", NULL::integer AS "capacity",
                   "decided_at" AS "at", "txid"
              FROM "decisions" WHERE "decision_seq" IS NOT NULL
            UNION ALL
            SELECT "course_id", "seq", "type", "idempotency_key", "student_id", "status", NULL::integer, NULL::varchar,
                   "capacity", "at", "txid"
              FROM "course_changes"`);
    await queryRunner.query(`DROP TABLE "swap_claims"`);
    await queryRunner.query(`ALTER TABLE "dead_letters" DROP COLUMN "swap_for"`);
    await queryRunner.query(`ALTER TABLE "course_changes" DROP COLUMN "reason"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "swap_for"`);
  }
}
