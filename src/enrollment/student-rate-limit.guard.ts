import { STUDENT_ID_PATTERN } from '../decisions/vocabulary.js';
import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { EnrollmentService } from './enrollment.service.js';
import { RateLimitCounter } from './rate-limit.counter.js';

/**
 * The limit of docs/guarantees.md §19 on POST /enroll and DELETE /enrollments/{key}, counted together across
 * every API process. Per student, not per address: a portal sends every student's calls from one address.
 * A call whose student cannot be told (a malformed body, an unknown key) is not counted: validation or
 * the 404 answers it, for less than a counter would cost. Past the limit: 429 with Retry-After.
 */
@Injectable()
export class StudentRateLimitGuard implements CanActivate {
  private readonly limit: number;
  private readonly windowMs: number;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(RateLimitCounter) private readonly counter: RateLimitCounter,
    @Inject(EnrollmentService) private readonly enrollment: EnrollmentService,
  ) {
    this.limit = config.rateLimitPerStudent;
    this.windowMs = config.rateLimitWindowMs;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.limit <= 0) return true;
    const http = context.switchToHttp();
    const student = await this.studentOf(http.getRequest<Request>());
    if (student === undefined) return true;
    // One counter per student, whichever of the two routes is called.
    const { hits, secondsLeft } = await this.counter.increment(`student:${student}`);
    if (hits <= this.limit) return true;
    http.getResponse<Response>().setHeader('Retry-After', String(secondsLeft));
    throw new DomainError(
      DomainErrorCode.RateLimited,
      `student ${student} sent more than ${this.limit} enrollment calls in ${this.windowMs / 1000} s; ` +
        `retry after ${secondsLeft} s`,
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
