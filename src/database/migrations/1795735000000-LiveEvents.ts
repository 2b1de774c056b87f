import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Live events: every statement that appends to the record (a batch of decisions, a drop with its
 * promotions, a capacity change) notifies channel course_events inside its own transaction, so the
 * notification is delivered on commit and never for a rollback. The payload names the courses and the
 * sequence numbers written ("7:120:135,9:4:4"), at most 200 courses per notification to stay well under
 * PostgreSQL's 8000-byte payload limit. Listeners read the events themselves from the record.
 */
export class LiveEvents1795735000000 implements MigrationInterface {
  name = 'LiveEvents1795735000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "course_changes_student_id_idx" ON "course_changes" ("student_id") `,
    );
    for (const [table, seq] of [
      ['decisions', 'decision_seq'],
      ['course_changes', 'seq'],
    ]) {
      await queryRunner.query(`CREATE FUNCTION "notify_${table}_written"() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('course_events', string_agg(range, ',')) FROM (
            SELECT course_id || ':' || min("${seq}") || ':' || max("${seq}") AS range,
                   (row_number() OVER (ORDER BY course_id) - 1) / 200 AS chunk
              FROM written WHERE "${seq}" IS NOT NULL GROUP BY course_id) AS ranges
          GROUP BY chunk;
          RETURN NULL;
        END $$`);
      await queryRunner.query(`CREATE TRIGGER "${table}_notify_written" AFTER INSERT ON "${table}"
        REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION "notify_${table}_written"()`);
    }
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['decisions', 'course_changes']) {
      await queryRunner.query(`DROP TRIGGER "${table}_notify_written" ON "${table}"`);
      await queryRunner.query(`DROP FUNCTION "notify_${table}_written"()`);
    }
    await queryRunner.query(`DROP INDEX "public"."course_changes_student_id_idx"`);
  }
}
