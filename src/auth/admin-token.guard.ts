import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { ApiErrorResponse } from '../http/error.response.js';
import { bearerToken, operatorTokenMatcher } from './operator-token.js';

/** Operators-only endpoints: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly matches: (presented: string) => boolean;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.matches = operatorTokenMatcher(config.adminToken);
  }

  canActivate(context: ExecutionContext): boolean {
    const token = bearerToken(context.switchToHttp().getRequest<Request>().headers.authorization);
    if (token === undefined || !this.matches(token)) {
      throw new DomainError(
        DomainErrorCode.AdminTokenInvalid,
        'Authorization must be "Bearer <ADMIN_TOKEN>"',
      );
    }
    return true;
  }
}

/** Documents the guard's 401. */
export const ApiAdminTokenInvalid = () =>
  ApiErrorResponse(401, 'Missing or wrong admin token', 'Authorization must be "Bearer <ADMIN_TOKEN>"');
