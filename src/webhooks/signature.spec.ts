import { createHmac } from 'node:crypto';
import { signatureHeader, verifySignature } from './signature.js';

describe('webhook signature', () => {
  const secret = 'whsec-0123456789abcdef';
  const body = '{"webhook_id":"1","event":{"id":"7-43"}}';

  it('is t=<seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>', () => {
    const expected = createHmac('sha256', secret).update(`1765000000.${body}`).digest('hex');
    expect(signatureHeader(secret, body, 1765000000)).toBe(`t=1765000000,v1=${expected}`);
  });

  it('verifies what it signed, within the tolerance', () => {
    const header = signatureHeader(secret, body, 1765000000);
    expect(verifySignature(secret, body, header, { nowSeconds: 1765000100 })).toBe(true);
    expect(verifySignature(secret, body, header, { nowSeconds: 1765000301 })).toBe(false);
  });

  it('refuses another body, another secret, a changed timestamp, or a malformed header', () => {
    const header = signatureHeader(secret, body, 1765000000);
    const now = { nowSeconds: 1765000000 };
    expect(verifySignature(secret, body.replace('43', '44'), header, now)).toBe(false);
    expect(verifySignature('another-secret-0000', body, header, now)).toBe(false);
    expect(verifySignature(secret, body, header.replace('t=1765000000', 't=1765000001'), now)).toBe(false);
    for (const broken of [undefined, '', 't=1765000000', 'v1=abc', 't=x,v1=00', header.slice(0, -2)]) {
      expect(verifySignature(secret, body, broken, now)).toBe(false);
    }
  });
});
