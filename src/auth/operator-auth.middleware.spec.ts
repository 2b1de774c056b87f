import { presentedToken } from './operator-auth.middleware.js';

const basic = (credentials: string) => `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;

describe('presentedToken', () => {
  it('takes the password of Basic credentials, whatever the user name', () => {
    expect(presentedToken(basic('operator:s3cret-token'))).toBe('s3cret-token');
    expect(presentedToken(basic(':s3cret-token'))).toBe('s3cret-token');
  });

  it('keeps a colon inside the password', () => {
    expect(presentedToken(basic('ops:a:b:c'))).toBe('a:b:c');
  });

  it('takes a Bearer token as the operator API does', () => {
    expect(presentedToken('Bearer s3cret-token')).toBe('s3cret-token');
  });

  it('reads the scheme whatever its case', () => {
    expect(presentedToken(basic('ops:pw').replace('Basic', 'basic'))).toBe('pw');
    expect(presentedToken('bearer pw')).toBe('pw');
  });

  it('finds no token in a missing, malformed or foreign header', () => {
    expect(presentedToken(undefined)).toBeUndefined();
    expect(presentedToken('')).toBeUndefined();
    expect(presentedToken(basic('no-colon'))).toBeUndefined();
    expect(presentedToken('Basic not base64!')).toBeUndefined();
    expect(presentedToken('Digest username="ops"')).toBeUndefined();
  });
});
