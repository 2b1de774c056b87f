import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import { AdminTokenGuard, ApiAdminTokenInvalid } from '../auth/admin-token.guard.js';
import { ForClients } from '../auth/client-token.guard.js';
import { ApiBodyRefused, ApiDependencyUnavailable, ApiErrorResponse } from '../http/error.response.js';
import { AppointmentsService } from './appointments.service.js';
import {
  APPOINTMENT_BATCH_MAX_BODY_BYTES,
  APPOINTMENT_BATCH_TOO_LARGE,
  AppointmentBatchPipe,
  type AppointmentRow,
  MAX_APPOINTMENTS_PER_CALL,
  ONE_ROW_PER_STUDENT,
} from './dto/appointment-batch.js';
import { AppointmentRowDto } from './dto/appointment-row.dto.js';
import { AppointmentResponse, AppointmentsUpsertedResponse } from './dto/appointment.response.js';
import { SetAppointmentDto } from './dto/set-appointment.dto.js';
import { ApiStudentIdInvalid, ApiStudentIdParam, StudentIdPipe } from './student-id.pipe.js';
import { parseDateTime } from '../http/date-time.js';
import { ApiCrossFieldRules, CLOSES_AFTER_OPENS } from '../http/cross-field-rules.js';

/** What a refused batch's details look like: each offending row and field, each student named twice. */
const BATCH_REFUSED = [
  '[17].opens_at must be an RFC 3339 date-time with an offset, years 0001..9998 (e.g. 2026-12-01T09:00:00Z)',
  '[42].student_id s-0042 is already at [3]; name a student once',
];

const ApiAppointmentNotFound = () =>
  ApiErrorResponse(404, 'The student has no appointment', 'student s-0042 has no registration appointment');

/**
 * Registration appointments (contract v3, Fair opening): when each student may send POST /enroll. The
 * operators set and lift them; a student (through the portal) reads theirs.
 */
@ApiTags('schedules')
@ApiDependencyUnavailable()
@Controller()
export class AppointmentsController {
  constructor(@Inject(AppointmentsService) private readonly appointments: AppointmentsService) {}

  @Get('students/:student_id/appointment')
  @ForClients()
  @ApiOperation({
    operationId: 'getStudentAppointment',
    summary: "A student's registration appointment",
    description:
      'When the student may send POST /enroll: from opens_at, until closes_at (null: until the course ' +
      'windows close). A student without an appointment (404) is bound only by the course windows.',
  })
  @ApiStudentIdParam()
  @ApiOkResponse({ type: AppointmentResponse, description: 'The appointment' })
  @ApiStudentIdInvalid()
  @ApiAppointmentNotFound()
  async get(@Param('student_id', StudentIdPipe) studentId: string): Promise<AppointmentResponse> {
    return AppointmentResponse.from(await this.appointments.get(studentId));
  }

  @Put('admin/appointments/:student_id')
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiOperation({
    operationId: 'setStudentAppointment',
    summary: "Set a student's registration appointment (operators)",
    description:
      "Replaces the student's appointment, if any. Outside it, POST /enroll is a 409 naming the time, " +
      'nothing is queued and the key is not remembered. Every API process applies it within ' +
      'COURSE_CACHE_TTL_MS (the one serving this call at once).',
  })
  @ApiStudentIdParam()
  @ApiOkResponse({ type: AppointmentResponse, description: 'The appointment as set' })
  @ApiCrossFieldRules(CLOSES_AFTER_OPENS)
  @ApiErrorResponse(
    400,
    'A field is missing, invalid or unknown, closes_at is not after opens_at, or student_id is not 1..64 ' +
      'characters of [A-Za-z0-9._:-]; details names each field',
    'closes_at must be after opens_at',
    ['closes_at must be after opens_at'],
  )
  @ApiAdminTokenInvalid()
  @ApiBodyRefused()
  async set(
    @Param('student_id', StudentIdPipe) studentId: string,
    @Body() dto: SetAppointmentDto,
  ): Promise<AppointmentResponse> {
    const appointment = await this.appointments.set(studentId, {
      opensAt: parseDateTime(dto.opens_at)!,
      closesAt: dto.closes_at == null ? null : parseDateTime(dto.closes_at)!,
    });
    return AppointmentResponse.from(appointment);
  }

  @Post('admin/appointments')
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiExtraModels(AppointmentRowDto)
  @ApiOperation({
    operationId: 'setStudentAppointments',
    summary: 'Set many registration appointments at once (operators)',
    description:
      `1..${MAX_APPOINTMENTS_PER_CALL} rows, written in one statement: all of them or, if one is refused, ` +
      'none. Each row replaces its student’s appointment, if any; a student may appear once. The body may ' +
      `be up to ${APPOINTMENT_BATCH_MAX_BODY_BYTES / 1024 / 1024} MiB (every other route: 16 KiB).`,
  })
  @ApiBody({
    required: true,
    schema: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_APPOINTMENTS_PER_CALL,
      items: { $ref: getSchemaPath(AppointmentRowDto) },
    },
  })
  @ApiOkResponse({ type: AppointmentsUpsertedResponse, description: 'Every row written' })
  @ApiCrossFieldRules(CLOSES_AFTER_OPENS, ONE_ROW_PER_STUDENT)
  @ApiErrorResponse(
    400,
    'The body is not an array, is empty, a row is invalid (details names each row and field), or a ' +
      'student is named twice (details names both rows); nothing was written',
    BATCH_REFUSED.join('; '),
    BATCH_REFUSED,
  )
  @ApiAdminTokenInvalid()
  @ApiErrorResponse(
    413,
    `More than ${MAX_APPOINTMENTS_PER_CALL} rows, or a body larger than ` +
      `${APPOINTMENT_BATCH_MAX_BODY_BYTES / 1024 / 1024} MiB ("${APPOINTMENT_BATCH_TOO_LARGE}"); nothing was ` +
      'written',
    `at most ${MAX_APPOINTMENTS_PER_CALL} appointments per call (the body has 10001)`,
    [`at most ${MAX_APPOINTMENTS_PER_CALL} appointments per call (the body has 10001)`],
  )
  @ApiErrorResponse(
    415,
    'The body is not JSON (Content-Type), or its charset or Content-Encoding is not one the API reads',
    'Content-Type must be application/json (got text/plain)',
  )
  async setMany(@Body(AppointmentBatchPipe) rows: AppointmentRow[]): Promise<AppointmentsUpsertedResponse> {
    return { upserted: await this.appointments.setMany(rows) };
  }

  @Delete('admin/appointments/:student_id')
  @HttpCode(204)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiOperation({
    operationId: 'deleteStudentAppointment',
    summary: "Lift a student's registration appointment (operators)",
    description:
      'From now on only the course windows bind the student; every API process applies it within ' +
      'COURSE_CACHE_TTL_MS (the one serving this call at once).',
  })
  @ApiStudentIdParam()
  @ApiNoContentResponse({ description: 'Lifted' })
  @ApiStudentIdInvalid()
  @ApiAdminTokenInvalid()
  @ApiAppointmentNotFound()
  async remove(@Param('student_id', StudentIdPipe) studentId: string): Promise<void> {
    await this.appointments.remove(studentId);
  }
}
