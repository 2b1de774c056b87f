import { MigrationInterface, QueryRunner } from 'typeorm';

export class DeadLetters1795647844037 implements MigrationInterface {
  name = 'DeadLetters1795647844037';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "dead_letters" ("id" BIGSERIAL NOT NULL, "idempotency_key" character varying(128) NOT NULL, "student_id" character varying(64) NOT NULL, "course_id" integer NOT NULL, "priority" smallint NOT NULL, "requested_at" TIMESTAMP WITH TIME ZONE NOT NULL, "error" text NOT NULL, "attempts" integer NOT NULL, "failed_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "dead_letters_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "dead_letters_idempotency_key_key" ON "dead_letters"  ("idempotency_key") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."dead_letters_idempotency_key_key"`);
    await queryRunner.query(`DROP TABLE "dead_letters"`);
  }
}
