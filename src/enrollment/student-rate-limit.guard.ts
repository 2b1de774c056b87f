import { STUDENT_ID_PATTERN } from '../decisions/vocabulary.js';
import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerRequest,
  ThrottlerStorage,
} from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { EnrollmentService } from './enrollment.service.js';

/**
 * The limit of docs/guarantees.md §19 on POST /enroll and DELETE /enrollments/{key}, counted together across
 * every API process. Per student, not per address: a portal sends every student's calls from one address.
 * A call whose student cannot be told (a malformed body, an unknown key) is not counted: validation or
 * the 404 answers it, for less than a counter would cost.
 */
@Injectable()
export class StudentRateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    @Inject(Reflector) reflector: Reflector,
    @Inject(EnrollmentService) private readonly enrollment: EnrollmentService,
  ) {
    super(options, storage, reflector);
  }

  protected override async handleRequest(request: ThrottlerRequest): Promise<boolean> {
    if (request.limit <= 0) return true;
    const student = await this.studentOf(request.context.switchToHttp().getRequest<Request>());
    if (student === undefined) return true;
    return super.handleRequest({ ...request, getTracker: () => Promise.resolve(student) });
  }

  /** One counter per student, whichever of the two routes is called. */
  protected override generateKey(_context: ExecutionContext, student: string): string {
    return `student:${student}`;
  }

  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const seconds = detail.timeToBlockExpire;
    context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(seconds));
    throw new DomainError(
      DomainErrorCode.RateLimited,
      `student ${detail.tracker} sent more than ${detail.limit} enrollment calls in ${detail.ttl / 1000} s; ` +
        `retry after ${seconds} s`,
    );
  }

  private async studentOf(request: Request): Promise<string | undefined> {
    if (request.method === 'POST') {
      const sent: unknown = (request.body as Record<string, unknown> | undefined)?.student_id;
      return typeof sent === 'string' && STUDENT_ID_PATTERN.test(sent) ? sent : undefined;
    }
    const key = Object.values(request.params)[0];
    return typeof key === 'string' ? this.enrollment.studentOf(key) : undefined;
  }
}
