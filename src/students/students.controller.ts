import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import { AdminTokenGuard, ApiAdminTokenInvalid } from '../auth/admin-token.guard.js';
import { ForClients } from '../auth/client-token.guard.js';
import { CourseLedger } from '../courses/course-ledger.js';
import { ApiCourseNotFound } from '../courses/course-id.pipe.js';
import { DecisionsService } from '../decisions/decisions.service.js';
import { decidedView } from '../decisions/dto/enrollment-request.response.js';
import { STUDENT_ID_PATTERN } from '../decisions/vocabulary.js';
import { StudentIdParamPipe } from '../enrollment/path-parameter.pipes.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { ApiBodyRefused, ApiDependencyUnavailable, ApiErrorResponse } from '../http/error.response.js';
import { ScheduleReader } from '../schedules/schedule.reader.js';
import { CreateOverrideDto } from './dto/create-override.dto.js';
import { OverrideResponse, ScheduleResponse } from './dto/schedule.response.js';
import { SetLimitsDto } from './dto/set-limits.dto.js';
import { parseDateTime } from '../http/date-time.js';
import { ApiCrossFieldRules, type CrossFieldRule } from '../http/cross-field-rules.js';

const ApiStudentIdParam = () =>
  ApiParam({
    name: 'student_id',
    schema: {
      type: 'string',
      pattern: STUDENT_ID_PATTERN.source,
      minLength: 1,
      maxLength: 64,
      example: 's-0042',
    },
  });
const ApiStudentIdInvalid = () =>
  ApiErrorResponse(
    400,
    'student_id is not 1..64 characters of [A-Za-z0-9._:-], not . or ..',
    'student_id must be 1..64 characters of [A-Za-z0-9._:-], not . or ..',
  );

/** Not a rule over two fields, but over a field and the clock: the document states it the same way. */
const EXPIRES_IN_THE_FUTURE: CrossFieldRule = {
  fields: ['expires_at'],
  rule: 'expires_at must be in the future',
};

/** An override's id as the service writes it (a bigint): one spelling per override, no leading zeros. */
const OVERRIDE_ID = /^[1-9][0-9]{0,17}$/;

/** Students' schedules (contract v3, Schedules): the student's view, and the operators' limits and overrides. */
@ApiTags('schedules')
@ApiDependencyUnavailable()
@Controller()
export class StudentsController {
  constructor(
    @Inject(ScheduleReader) private readonly reader: ScheduleReader,
    @Inject(DecisionsService) private readonly decisions: DecisionsService,
    @Inject(CourseLedger) private readonly ledger: CourseLedger,
  ) {}

  @Get('students/:student_id/schedule')
  @ForClients()
  @ApiOperation({
    operationId: 'getStudentSchedule',
    summary: "A student's schedule",
    description:
      'The limits in force, the credits enrolled and the waitlists joined, the enrolled and waiting ' +
      'requests (each waiting one with blocked_reason), and the unexpired overrides. A student who never ' +
      'sent a request has an empty schedule.',
  })
  @ApiStudentIdParam()
  @ApiOkResponse({ type: ScheduleResponse })
  @ApiStudentIdInvalid()
  async schedule(@Param('student_id', StudentIdParamPipe) studentId: string): Promise<ScheduleResponse> {
    return this.scheduleOf(studentId);
  }

  @Put('admin/students/:student_id/limits')
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiOperation({
    operationId: 'setStudentLimits',
    summary: "Set a student's limits (operators)",
    description:
      "Replaces the student's own limits; null or absent: the configured default. A limit below what " +
      'the student holds now is a 409 and changes nothing. A raised limit that lifts a block promotes the ' +
      'waiting request, where a seat is free, in the same transaction.',
  })
  @ApiStudentIdParam()
  @ApiOkResponse({ type: ScheduleResponse, description: "The student's schedule after the change" })
  @ApiStudentIdInvalid()
  @ApiAdminTokenInvalid()
  @ApiErrorResponse(
    409,
    'A limit is below what the student holds now; nothing changed',
    'max_credits 8 is below the 12 credits student s-0042 is enrolled in; nothing changed',
  )
  @ApiBodyRefused()
  async setLimits(
    @Param('student_id', StudentIdParamPipe) studentId: string,
    @Body() dto: SetLimitsDto,
  ): Promise<ScheduleResponse> {
    await this.ledger.setLimits(studentId, {
      maxCredits: dto.max_credits ?? null,
      maxWaitlisted: dto.max_waitlisted ?? null,
    });
    return this.scheduleOf(studentId);
  }

  @Post('admin/overrides')
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiOperation({
    operationId: 'createOverride',
    summary: 'Excuse a student from schedule rules for one course (operators)',
    description:
      'Until expires_at (null: never), decisions and promotions of this student for this course skip the ' +
      'rules named in kinds. A block it lifts promotes the waiting request, where a seat is free, in the ' +
      'same transaction.',
  })
  @ApiCreatedResponse({ type: OverrideResponse })
  @ApiCrossFieldRules(EXPIRES_IN_THE_FUTURE)
  @ApiErrorResponse(
    400,
    'A field is invalid, or expires_at is not in the future',
    'expires_at must be in the future',
  )
  @ApiAdminTokenInvalid()
  @ApiCourseNotFound()
  @ApiBodyRefused()
  async createOverride(@Body() dto: CreateOverrideDto): Promise<OverrideResponse> {
    const expiresAt = dto.expires_at == null ? null : parseDateTime(dto.expires_at)!;
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw new DomainError(DomainErrorCode.RequestInvalid, EXPIRES_IN_THE_FUTURE.rule, [
        EXPIRES_IN_THE_FUTURE.rule,
      ]);
    }
    const created = await this.ledger.addOverride({
      studentId: dto.student_id,
      courseId: dto.course_id,
      kinds: dto.kinds,
      expiresAt,
    });
    return OverrideResponse.from(created);
  }

  @Delete('admin/overrides/:id')
  @HttpCode(204)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth('admin')
  @ApiOperation({
    operationId: 'deleteOverride',
    summary: 'Remove an override (operators)',
    description: 'Later decisions apply the rules again; nobody loses a place over it.',
  })
  @ApiParam({ name: 'id', schema: { type: 'string', pattern: OVERRIDE_ID.source, example: '12' } })
  @ApiNoContentResponse({ description: 'Removed' })
  @ApiAdminTokenInvalid()
  @ApiErrorResponse(404, 'No override with this id', 'no override with id 12')
  async deleteOverride(@Param('id') id: string): Promise<void> {
    if (!OVERRIDE_ID.test(id)) {
      throw new DomainError(
        DomainErrorCode.OverrideNotFound,
        'no override with that id: ids are decimal digits without leading zeros',
      );
    }
    await this.ledger.removeOverride(id);
  }

  private async scheduleOf(studentId: string): Promise<ScheduleResponse> {
    const [summary, requests] = await Promise.all([
      this.reader.summary(studentId),
      this.decisions.findByStudent(studentId),
    ]);
    const held = requests
      .filter((request) => ['enrolled', 'waitlisted', 'offered'].includes(request.status))
      .sort((a, b) => a.requestedAt.getTime() - b.requestedAt.getTime());
    const views = (await this.reader.withBlockedReasons(held)).map(decidedView);
    return {
      student_id: studentId,
      max_credits: summary.maxCredits,
      max_waitlisted: summary.maxWaitlisted,
      enrolled_credits: summary.enrolledCredits,
      waitlisted_count: summary.waitlistedCount,
      enrolled: views.filter((view) => view.status === 'enrolled'),
      waiting: views.filter((view) => view.status === 'waitlisted' || view.status === 'offered'),
      overrides: summary.overrides.map((override) => OverrideResponse.from(override)),
    };
  }
}
