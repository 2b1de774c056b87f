import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header every delivery carries (contract v3, Webhooks). */
export const SIGNATURE_HEADER = 'CourseFlow-Signature';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`: the timestamp is signed too, so a replay can be refused. */
export function signatureHeader(secret: string, rawBody: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${hmac(secret, unixSeconds, rawBody)}`;
}

/**
 * A receiver's check: the header's v1 is the HMAC of its t and the raw body, and t is within the
 * tolerance of now. What a receiver must do, as the README shows it; the tests use it as a receiver would.
 */
export function verifySignature(
  secret: string,
  rawBody: string,
  header: string | undefined,
  { nowSeconds = Math.floor(Date.now() / 1000), toleranceSeconds = 300 } = {},
): boolean {
  const parts = new Map(
    (header ?? '').split(',').map((part) => {
      const at = part.indexOf('=');
      return [part.slice(0, at).trim(), part.slice(at + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get('t'));
  const given = Buffer.from(parts.get('v1') ?? '', 'hex');
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = Buffer.from(hmac(secret, t, rawBody), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const hmac = (secret: string, t: number, rawBody: string) =>
  createHmac('sha256', secret).update(`${t}.${rawBody}`).digest('hex');
