import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks (contract v3): the receivers operators register (webhooks), and per webhook and course how far
 * delivery has got through the course's record, with the retry state of the next event (webhook_cursors).
 * The events themselves stay in the record: a cursor is a course sequence number.
 */
export class Webhooks1796200000000 implements MigrationInterface {
  name = 'Webhooks1796200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "webhooks" ("id" BIGSERIAL NOT NULL, "url" character varying(2048) NOT NULL, "secret" character varying(256) NOT NULL, "events" character varying(24) array NOT NULL, "course_id" integer, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "webhooks_events_not_empty" CHECK (cardinality("events") > 0), CONSTRAINT "webhooks_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "webhooks_course_id_idx" ON "webhooks"  ("course_id") `);
    await queryRunner.query(
      `CREATE TABLE "webhook_cursors" ("webhook_id" bigint NOT NULL, "course_id" integer NOT NULL, "delivered_seq" integer NOT NULL, "attempts" integer NOT NULL DEFAULT '0', "last_error" character varying(500), "next_attempt_at" TIMESTAMP WITH TIME ZONE, "failing_since" TIMESTAMP WITH TIME ZONE, CONSTRAINT "webhook_cursors_pkey" PRIMARY KEY ("webhook_id", "course_id"))`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_cursors" ADD CONSTRAINT "webhook_cursors_webhook_id_fkey" FOREIGN KEY ("webhook_id") REFERENCES "webhooks"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE "webhook_cursors" DROP CONSTRAINT "webhook_cursors_webhook_id_fkey"`,
    );
    await queryRunner.query(`DROP TABLE "webhook_cursors"`);
    await queryRunner.query(`DROP INDEX "public"."webhooks_course_id_idx"`);
    await queryRunner.query(`DROP TABLE "webhooks"`);
  }
}
