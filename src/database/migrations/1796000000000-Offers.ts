import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Offers (contract v3): a course in `offer` mode holds a freed seat for the first waiting request that may
 * take it (seats_held), for offer_ttl_s; the request is `offered` until offer_expires_at. The capacity CHECK
 * counts held seats: seats_taken + seats_held <= capacity, whatever the code does. The partial index is the
 * expiry sweep's: live offers by deadline.
 */
export class Offers1796000000000 implements MigrationInterface {
  name = 'Offers1796000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "courses" ADD "seats_held" integer NOT NULL DEFAULT '0'`);
    await queryRunner.query(
      `ALTER TABLE "courses" ADD "waitlist_mode" character varying(8) NOT NULL DEFAULT 'auto'`,
    );
    await queryRunner.query(`ALTER TABLE "courses" ADD "offer_ttl_s" integer NOT NULL DEFAULT '86400'`);
    await queryRunner.query(`ALTER TABLE "courses" DROP CONSTRAINT "courses_seats_within_capacity"`);
    await queryRunner.query(
      `ALTER TABLE "courses" ADD CONSTRAINT "courses_seats_within_capacity" CHECK ("seats_taken" >= 0 AND "seats_held" >= 0 AND "seats_taken" + "seats_held" <= "capacity")`,
    );
    await queryRunner.query(
      `ALTER TABLE "courses" ADD CONSTRAINT "courses_waitlist_mode_known" CHECK ("waitlist_mode" IN ('auto', 'offer'))`,
    );
    await queryRunner.query(
      `ALTER TABLE "courses" ADD CONSTRAINT "courses_offer_ttl_range" CHECK ("offer_ttl_s" >= 60 AND "offer_ttl_s" <= 604800)`,
    );
    await queryRunner.query(`ALTER TABLE "decisions" ADD "offer_expires_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP CONSTRAINT "decisions_status_known"`);
    await queryRunner.query(
      `ALTER TABLE "decisions" ADD CONSTRAINT "decisions_status_known" CHECK ("status" IN ('enrolled', 'waitlisted', 'offered', 'rejected', 'cancelled', 'dropped'))`,
    );
    await queryRunner.query(
      `CREATE INDEX "decisions_live_offers_idx" ON "decisions" ("offer_expires_at") WHERE "status" = 'offered'`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."decisions_live_offers_idx"`);
    await queryRunner.query(`ALTER TABLE "decisions" DROP CONSTRAINT "decisions_status_known"`);
    await queryRunner.query(
      `ALTER TABLE "decisions" ADD CONSTRAINT "decisions_status_known" CHECK ("status" IN ('enrolled', 'waitlisted', 'rejected', 'cancelled', 'dropped'))`,
    );
    await queryRunner.query(`ALTER TABLE "decisions" DROP COLUMN "offer_expires_at"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP CONSTRAINT "courses_offer_ttl_range"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP CONSTRAINT "courses_waitlist_mode_known"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP CONSTRAINT "courses_seats_within_capacity"`);
    await queryRunner.query(
      `ALTER TABLE "courses" ADD CONSTRAINT "courses_seats_within_capacity" CHECK ("seats_taken" >= 0 AND "seats_taken" <= "capacity")`,
    );
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "offer_ttl_s"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "waitlist_mode"`);
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "seats_held"`);
  }
}
