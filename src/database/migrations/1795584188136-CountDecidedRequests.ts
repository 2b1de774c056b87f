import { MigrationInterface, QueryRunner } from 'typeorm';

export class CountDecidedRequests1795584188136 implements MigrationInterface {
  name = 'CountDecidedRequests1795584188136';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "courses" ADD "requests_decided" integer NOT NULL DEFAULT '0'`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "courses" DROP COLUMN "requests_decided"`);
  }
}
