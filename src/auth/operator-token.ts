import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * A check of a presented token against ADMIN_TOKEN in constant time: both are hashed first, so the
 * comparison takes the same time whatever the presented token's length or content.
 */
export function operatorTokenMatcher(adminToken: string): (presented: string) => boolean {
  const expected = digest(adminToken);
  return (presented) => timingSafeEqual(digest(presented), expected);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive), if it is one. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer (.+)$/i.exec(header ?? '')?.[1];
}

/**
 * A check of a presented token against every client token and the admin token (each may act for students),
 * in constant time: every token is compared, whichever matches.
 */
export function clientTokenMatcher(config: {
  clientTokens: string[];
  adminToken: string;
}): (presented: string) => boolean {
  const matchers = [...config.clientTokens, config.adminToken].map(operatorTokenMatcher);
  return (presented) => matchers.reduce((matched, matches) => matches(presented) || matched, false);
}
