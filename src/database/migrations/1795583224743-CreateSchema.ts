import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateSchema1795583224743 implements MigrationInterface {
  name = 'CreateSchema1795583224743';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "decisions" ("idempotency_key" character varying(128) NOT NULL, "student_id" character varying(64) NOT NULL, "course_id" integer NOT NULL, "priority" smallint NOT NULL, "status" character varying(16) NOT NULL, "reason" character varying(32), "requested_at" TIMESTAMP WITH TIME ZONE NOT NULL, "decided_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_7b89bc97d3c8f66e3c4e28b8848" PRIMARY KEY ("idempotency_key"))`,
    );
    await queryRunner.query(`CREATE INDEX "decisions_course_id_idx" ON "decisions"  ("course_id") `);
    await queryRunner.query(
      `CREATE TABLE "enrollments" ("id" BIGSERIAL NOT NULL, "course_id" integer NOT NULL, "student_id" character varying(64) NOT NULL, "idempotency_key" character varying(128) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_67ea3afdc58809b899eb14a4626" UNIQUE ("idempotency_key"), CONSTRAINT "enrollments_course_student_key" UNIQUE ("course_id", "student_id"), CONSTRAINT "PK_7c0f752f9fb68bf6ed7367ab00f" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "waitlist_entries" ("id" BIGSERIAL NOT NULL, "course_id" integer NOT NULL, "student_id" character varying(64) NOT NULL, "idempotency_key" character varying(128) NOT NULL, "position" integer NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_a1a75da22a540c35a73ad143878" UNIQUE ("idempotency_key"), CONSTRAINT "waitlist_entries_course_position_key" UNIQUE ("course_id", "position"), CONSTRAINT "waitlist_entries_course_student_key" UNIQUE ("course_id", "student_id"), CONSTRAINT "PK_bd0ef66fff81d3be7b7a1568a4d" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "courses" ("id" SERIAL NOT NULL, "code" character varying(32) NOT NULL, "title" character varying(200) NOT NULL, "capacity" integer NOT NULL, "seats_taken" integer NOT NULL DEFAULT '0', "waitlist_length" integer NOT NULL DEFAULT '0', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_86b3589486bac01d2903e22471c" UNIQUE ("code"), CONSTRAINT "courses_waitlist_non_negative" CHECK ("waitlist_length" >= 0), CONSTRAINT "courses_seats_within_capacity" CHECK ("seats_taken" >= 0 AND "seats_taken" <= "capacity"), CONSTRAINT "courses_capacity_range" CHECK ("capacity" >= 0 AND "capacity" <= 100000), CONSTRAINT "courses_pkey" PRIMARY KEY ("id"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "courses"`);
    await queryRunner.query(`DROP TABLE "waitlist_entries"`);
    await queryRunner.query(`DROP TABLE "enrollments"`);
    await queryRunner.query(`DROP INDEX "public"."decisions_course_id_idx"`);
    await queryRunner.query(`DROP TABLE "decisions"`);
  }
}
