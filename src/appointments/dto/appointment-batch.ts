import { Injectable, type PipeTransform } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError } from 'class-validator';
import { DomainError, DomainErrorCode } from '../../errors/domain-error.js';
import { STUDENT_ID_PATTERN } from '../../decisions/vocabulary.js';
import { AppointmentRowDto } from './appointment-row.dto.js';
import { isDateTime, parseDateTime } from '../../http/date-time.js';
import type { CrossFieldRule } from '../../http/cross-field-rules.js';

/** The most rows one POST /admin/appointments takes (contract v3, Limits); more is a 413. */
export const MAX_APPOINTMENTS_PER_CALL = 10_000;
/**
 * The body POST /admin/appointments may send: 10,000 rows of 64-character student ids fit with room to
 * spare. Every other route keeps the 16 KiB limit (app.setup.ts reads a body with the one that applies).
 */
export const APPOINTMENT_BATCH_MAX_BODY_BYTES = 2 * 1024 * 1024;
/** The route that takes APPOINTMENT_BATCH_MAX_BODY_BYTES, as Express routes it (any case, one optional '/'). */
export const isAppointmentBatchRoute = (method: string, path: string): boolean =>
  method === 'POST' && /^\/admin\/appointments\/?$/i.test(path);
/** What a body past that limit is told (413), in the words of every other route's. */
export const APPOINTMENT_BATCH_TOO_LARGE = `the body is larger than ${APPOINTMENT_BATCH_MAX_BODY_BYTES / 1024 / 1024} MiB`;
/** How many of the offending fields the message quotes; `details` lists every one. */
const QUOTED_IN_MESSAGE = 10;

/** Rows name distinct students: a rule across rows, which JSON Schema's uniqueItems cannot state. */
export const ONE_ROW_PER_STUDENT: CrossFieldRule = {
  fields: ['student_id'],
  rule: 'name a student once',
};

/** A registration appointment as the service keeps it. */
export interface AppointmentWindow {
  opensAt: Date;
  /** Null: only the course windows close. */
  closesAt: Date | null;
}

export interface AppointmentRow extends AppointmentWindow {
  studentId: string;
}

/**
 * POST /admin/appointments' body as rows, or one refusal naming every offending row and field
 * (`[17].opens_at must be …`) and every student named twice (with both indexes): the rows are written all
 * or nothing, so one bad row refuses the call. Global validation skips an array body (its element type is
 * not known at run time), hence this pipe.
 */
export function parseAppointmentBatch(body: unknown): AppointmentRow[] {
  if (!Array.isArray(body)) {
    throw refused(`the body must be a JSON array of 1..${MAX_APPOINTMENTS_PER_CALL} appointments`);
  }
  if (body.length === 0) {
    throw refused(`the body is an empty array; send 1..${MAX_APPOINTMENTS_PER_CALL} appointments`);
  }
  if (body.length > MAX_APPOINTMENTS_PER_CALL) {
    const message = `at most ${MAX_APPOINTMENTS_PER_CALL} appointments per call (the body has ${body.length})`;
    throw new DomainError(DomainErrorCode.AppointmentBatchTooLarge, message, [message]);
  }
  const problems: string[] = [];
  const rows: AppointmentRow[] = [];
  const firstIndexOf = new Map<string, number>();
  body.forEach((row: unknown, index) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      problems.push(`[${index}] must be an object with student_id, opens_at and closes_at`);
      return;
    }
    const errors = isPlainlyValid(row)
      ? []
      : validateSync(plainToInstance(AppointmentRowDto, row), {
          whitelist: true,
          forbidNonWhitelisted: true,
        });
    for (const error of errors) problems.push(rowProblem(index, error));
    const { student_id: studentId, opens_at: opensAt, closes_at: closesAt } = row as AppointmentRowDto;
    if (typeof studentId === 'string') {
      const first = firstIndexOf.get(studentId);
      if (first === undefined) firstIndexOf.set(studentId, index);
      else
        problems.push(
          `[${index}].student_id ${studentId} is already at [${first}]; ${ONE_ROW_PER_STUDENT.rule}`,
        );
    }
    if (errors.length === 0) {
      rows.push({
        studentId,
        opensAt: parseDateTime(opensAt)!,
        closesAt: closesAt == null ? null : parseDateTime(closesAt)!,
      });
    }
  });
  if (problems.length > 0) {
    const quoted = problems.slice(0, QUOTED_IN_MESSAGE).join('; ');
    const more = problems.length - QUOTED_IN_MESSAGE;
    throw new DomainError(
      DomainErrorCode.RequestInvalid,
      more > 0 ? `${quoted}; and ${more} more (see details)` : quoted,
      problems,
    );
  }
  return rows;
}

const ROW_FIELDS = new Set(['student_id', 'opens_at', 'closes_at']);

/**
 * A row the DTO would take, told without class-transformer and class-validator (ten thousand rows through
 * them hold the event loop, which the accept path shares, for a quarter of a second); anything else goes
 * through the DTO, which names what is wrong. appointment-batch.spec.ts holds the two to agreeing.
 */
export function isPlainlyValid(row: object): boolean {
  for (const key in row) if (!ROW_FIELDS.has(key)) return false;
  const { student_id: studentId, opens_at: opensAt, closes_at: closesAt } = row as Record<string, unknown>;
  return (
    typeof studentId === 'string' &&
    STUDENT_ID_PATTERN.test(studentId) &&
    isDateTime(opensAt) &&
    (closesAt === undefined ||
      closesAt === null ||
      (isDateTime(closesAt) && parseDateTime(closesAt)! > parseDateTime(opensAt)!))
  );
}

/** One field of one row, named by its index: `[17].opens_at must be …`. */
function rowProblem(index: number, error: ValidationError): string {
  const field = `[${index}].${error.property}`;
  const reasons = Object.entries(error.constraints ?? {}).map(([constraint, reason]) =>
    constraint === 'whitelistValidation' ? 'should not exist' : reason,
  );
  const said = reasons.join('; ');
  // The DTO's messages start with the field's own name.
  return said.startsWith(`${error.property} `) ? `[${index}].${said}` : `${field} ${said}`;
}

function refused(message: string): DomainError {
  return new DomainError(DomainErrorCode.RequestInvalid, message, [message]);
}

/** POST /admin/appointments' body, checked whole before anything is written. */
@Injectable()
export class AppointmentBatchPipe implements PipeTransform<unknown, AppointmentRow[]> {
  transform(value: unknown): AppointmentRow[] {
    return parseAppointmentBatch(value);
  }
}
