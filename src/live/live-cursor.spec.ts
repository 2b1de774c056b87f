import { decodeCursor, encodeCursor } from './live-cursor.js';

describe('the live cursor', () => {
  it('gives back every section it was made of', () => {
    const sections = new Map([
      [
        's:s-0042',
        {
          positions: new Map([
            [7, 12],
            [9, 4],
          ]),
          ahead: new Map([[7, new Set([15, 18])]]),
        },
      ],
      ['c:7', { positions: new Map([[7, 40]]), ahead: new Map() }],
      ['k:portal 7f:3a', { positions: new Map<number, number>(), ahead: new Map() }],
    ]);
    expect(decodeCursor(encodeCursor(sections))).toEqual(sections);
  });

  it("takes a course's bare REST cursor for that course only", () => {
    expect(decodeCursor('42', 7)).toEqual(
      new Map([['c:7', { positions: new Map([[7, 42]]), ahead: new Map() }]]),
    );
    expect(decodeCursor('42')).toBeUndefined();
  });

  it.each([
    ['empty', ''],
    ['not base64 JSON', 'not a cursor'],
    ['an array', Buffer.from('[1]').toString('base64url')],
    ['an unknown section', Buffer.from('{"x:1":[]}').toString('base64url')],
    ['a negative number', Buffer.from('{"c:1":[[1,-1]]}').toString('base64url')],
    ['a fraction', Buffer.from('{"c:1":[[1,1.5]]}').toString('base64url')],
    ['course 0', Buffer.from('{"c:1":[[0,1]]}').toString('base64url')],
    ['past int4', Buffer.from('{"c:1":[[1,2147483648]]}').toString('base64url')],
    ['a bare number past int4', '99999999999'],
    ['too long', 'a'.repeat(20_000)],
    ['a number sent ahead that is not ahead', Buffer.from('{"c:1":[[1,5,5]]}').toString('base64url')],
    ['a course without a position', Buffer.from('{"c:1":[[1]]}').toString('base64url')],
  ])('refuses %s', (_, text) => {
    expect(decodeCursor(text, 1)).toBeUndefined();
  });
});
