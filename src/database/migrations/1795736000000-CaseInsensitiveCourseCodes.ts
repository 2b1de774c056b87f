import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Course codes are unique whatever their case (`CS101` and `cs101` name one course, and codes become
 * Prometheus labels): the unique constraint on code gives way to a unique index on lower(code). A database
 * that already holds such a pair stops here, naming the codes, rather than failing on the index.
 */
export class CaseInsensitiveCourseCodes1795736000000 implements MigrationInterface {
  name = 'CaseInsensitiveCourseCodes1795736000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    const clashes = (await queryRunner.query(
      `SELECT string_agg(code || ' (id ' || id || ')', ', ' ORDER BY id) AS codes
         FROM "courses" GROUP BY lower(code) HAVING count(*) > 1`,
    )) as Array<{ codes: string }>;
    if (clashes.length > 0) {
      throw new Error(
        `course codes that differ only in case: ${clashes.map(({ codes }) => codes).join('; ')}. ` +
          'Change all but one of each (UPDATE courses SET code = ... WHERE id = ...), then migrate again',
      );
    }
    await queryRunner.query(`ALTER TABLE "courses" DROP CONSTRAINT "UQ_86b3589486bac01d2903e22471c"`);
    await queryRunner.query(`CREATE UNIQUE INDEX "courses_code_lower_key" ON "courses" (lower("code"))`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."courses_code_lower_key"`);
    await queryRunner.query(
      `ALTER TABLE "courses" ADD CONSTRAINT "UQ_86b3589486bac01d2903e22471c" UNIQUE ("code")`,
    );
  }
}
