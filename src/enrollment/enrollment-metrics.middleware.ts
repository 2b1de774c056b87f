import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { EnrollmentMetrics, type RequestCountStatus } from '../metrics/enrollment-metrics.service.js';

/** How an answer to POST /enroll is counted. */
export function countedStatusOf(statusCode: number): RequestCountStatus | null {
  if (statusCode === 202) return 'queued';
  if (statusCode === 200) return 'replayed';
  if (statusCode === 503) return 'unavailable';
  if (statusCode === 429) return 'rate_limited';
  if (statusCode >= 400 && statusCode < 500) return 'rejected_invalid';
  return null;
}

/**
 * Counts every POST /enroll by its answer, including the ones the validation pipe turns away. A listener on
 * the finished response rather than an interceptor, whose RxJS pipeline was a measurable share of the accept
 * path's CPU (docs/performance.md).
 */
@Injectable()
export class EnrollmentMetricsMiddleware implements NestMiddleware {
  constructor(@Inject(EnrollmentMetrics) private readonly metrics: EnrollmentMetrics) {}

  use(_request: Request, response: Response, next: NextFunction): void {
    response.once('finish', () => {
      const status = countedStatusOf(response.statusCode);
      if (status) this.metrics.count(status);
    });
    next();
  }
}
