import type { RequestHandler } from 'express';
import { operatorTokenMatcher } from './operator-token.js';

/** What a browser shows in its login prompt; any user name is accepted, the password is ADMIN_TOKEN. */
export const OPERATOR_REALM = 'CourseFlow operators';

/**
 * Operators-only pages a browser opens: HTTP Basic with ADMIN_TOKEN as the password (any user name), or
 * `Authorization: Bearer <ADMIN_TOKEN>` as the operator API takes it. Anything else is a 401 carrying the
 * Basic challenge, so a browser prompts for the credential.
 */
export function operatorAuth(adminToken: string): RequestHandler {
  const matches = operatorTokenMatcher(adminToken);
  return (request, response, next) => {
    const presented = presentedToken(request.headers.authorization);
    if (presented !== undefined && matches(presented)) {
      next();
      return;
    }
    response.status(401).set('WWW-Authenticate', `Basic realm="${OPERATOR_REALM}", charset="UTF-8"`).json({
      statusCode: 401,
      error: 'Unauthorized',
      message: 'sign in with any user name and ADMIN_TOKEN as the password',
    });
  };
}

/** The token an Authorization header carries: a Basic password (after the first ':') or a Bearer token. */
export function presentedToken(header = ''): string | undefined {
  const bearer = /^Bearer (.+)$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header);
  if (!basic) return undefined;
  const credentials = Buffer.from(basic[1], 'base64').toString('utf8');
  const separator = credentials.indexOf(':');
  return separator === -1 ? undefined : credentials.slice(separator + 1);
}
