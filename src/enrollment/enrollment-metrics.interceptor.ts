import {
  type CallHandler,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import type { Response } from 'express';
import { type Observable, tap } from 'rxjs';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { EnrollmentMetrics } from '../metrics/enrollment-metrics.js';

/** Counts every POST /enroll by its answer, including the ones the validation pipe turns away. */
@Injectable()
export class EnrollmentMetricsInterceptor implements NestInterceptor {
  constructor(@Inject(EnrollmentMetrics) private readonly metrics: EnrollmentMetrics) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const response = context.switchToHttp().getResponse<Response>();
    return next.handle().pipe(
      tap({
        next: () => this.metrics.count(response.statusCode === 202 ? 'queued' : 'replayed'),
        error: (error: unknown) => {
          const unavailable = error instanceof DomainError && error.code === DomainErrorCode.QueueUnavailable;
          const clientError =
            error instanceof DomainError || (error instanceof HttpException && error.getStatus() < 500);
          if (unavailable) this.metrics.count('unavailable');
          else if (clientError) this.metrics.count('rejected_invalid');
        },
      }),
    );
  }
}
