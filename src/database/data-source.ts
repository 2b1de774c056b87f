import { DataSource, type DataSourceOptions } from 'typeorm';
import { Decision } from '../decisions/decision.entity.js';
import { Enrollment } from '../courses/enrollment.entity.js';
import { WaitlistEntry } from '../courses/waitlist-entry.entity.js';
import { Course } from '../courses/course.entity.js';
import { CourseChange } from '../events/course-change.entity.js';
import { DeadLetter } from '../dead-letters/dead-letter.entity.js';
import { StudentLoad } from '../schedules/student-load.entity.js';
import { ScheduleOverride } from '../schedules/schedule-override.entity.js';
import { SwapClaim } from '../decisions/swap-claim.entity.js';
import { CourseDraw } from '../courses/course-draw.entity.js';
import { StudentAppointment } from '../appointments/student-appointment.entity.js';
import { Webhook } from '../webhooks/webhook.entity.js';
import { WebhookCursor } from '../webhooks/webhook-cursor.entity.js';
import { migrations } from './migrations/index.js';
import { PoolClient } from './pool-client.js';

export const entities = [
  Course,
  Decision,
  Enrollment,
  WaitlistEntry,
  CourseChange,
  DeadLetter,
  StudentLoad,
  ScheduleOverride,
  SwapClaim,
  CourseDraw,
  StudentAppointment,
  Webhook,
  WebhookCursor,
];

/** One definition of the connection for the app (TypeOrmModule) and the TypeORM CLI (ormconfig.ts). */
export function dataSourceOptions(databaseUrl: string): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities,
    migrations,
    migrationsTableName: 'migrations',
    // The schema comes from migrations only.
    synchronize: false,
    extra: { max: 20, connectionTimeoutMillis: 5000, Client: PoolClient },
  };
}

export function createDataSource(databaseUrl: string): DataSource {
  return new DataSource(dataSourceOptions(databaseUrl));
}

/** host:port/database of a DATABASE_URL, for log lines and probes: never the credentials. */
export function databaseAddress(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
}

/** The URL with its password masked, for the one line that tells an operator what to check. */
export function maskedDatabaseUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (url.password) url.password = '***';
  return url.toString();
}
