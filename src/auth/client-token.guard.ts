import {
  applyDecorators,
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Request } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { DomainError, DomainErrorCode } from '../errors/domain-error.js';
import { errorResponse } from '../http/error.response.js';
import { bearerToken, clientTokenMatcher } from './operator-token.js';

const OPEN_TO_ANYONE = 'courseflow:open-to-anyone';

/** Marks the endpoints anyone may call whatever CLIENT_TOKENS says: the probes and the documents. */
export const OpenToAnyone = () => SetMetadata(OPEN_TO_ANYONE, true);

/**
 * With CLIENT_TOKENS set, only the clients holding one (the student portal) or the operators act for
 * students: every endpoint but those marked OpenToAnyone needs `Authorization: Bearer <token>`. Operator
 * endpoints then also check the admin token (AdminTokenGuard).
 */
@Injectable()
export class ClientTokenGuard implements CanActivate {
  private readonly matches: ((presented: string) => boolean) | undefined;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {
    this.matches = config.clientTokens.length === 0 ? undefined : clientTokenMatcher(config);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.matches === undefined || context.getType() !== 'http') return true;
    if (
      this.reflector.getAllAndOverride<boolean>(OPEN_TO_ANYONE, [context.getHandler(), context.getClass()])
    ) {
      return true;
    }
    const token = bearerToken(context.switchToHttp().getRequest<Request>().headers.authorization);
    if (token === undefined || !this.matches(token)) {
      throw new DomainError(
        DomainErrorCode.ClientTokenInvalid,
        'Authorization must be "Bearer <client token>" (one of CLIENT_TOKENS, or the admin token)',
      );
    }
    return true;
  }
}

/** Documents an endpoint (or a controller's) as the clients' (CLIENT_TOKENS) and the operators'. */
export const ForClients = () =>
  applyDecorators(
    ApiBearerAuth('client'),
    ApiBearerAuth('admin'),
    ApiUnauthorizedResponse(
      errorResponse(
        401,
        'Missing or wrong client token (when CLIENT_TOKENS is set)',
        'Authorization must be "Bearer <client token>" (one of CLIENT_TOKENS, or the admin token)',
      ),
    ),
  );
