import fc from 'fast-check';
import { isDateTime, parseDateTime } from './date-time.js';

describe('parseDateTime: RFC 3339 date-time, and nothing else', () => {
  it.each([
    ['2026-12-01T09:00:00Z', '2026-12-01T09:00:00.000Z'],
    ['2026-12-01t09:00:00z', '2026-12-01T09:00:00.000Z'],
    ['2026-12-01T10:00:00+01:00', '2026-12-01T09:00:00.000Z'],
    ['2026-12-01T09:00:00-00:00', '2026-12-01T09:00:00.000Z'],
    ['2026-12-01T09:00:00.1Z', '2026-12-01T09:00:00.100Z'],
    ['2026-12-01T09:00:00.123456789Z', '2026-12-01T09:00:00.123Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00.000Z'],
    ['1998-12-31T23:59:60Z', '1999-01-01T00:00:00.000Z'],
    ['1998-12-31T15:59:60.123-08:00', '1999-01-01T00:00:00.123Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['0050-06-01T00:00:00Z', '0050-06-01T00:00:00.000Z'],
    ['9998-12-31T23:59:59-23:59', '9999-01-01T23:58:59.000Z'],
    ['0001-01-01T00:00:00+23:59', '0000-12-31T00:01:00.000Z'],
  ])('reads %s as %s', (text, instant) => {
    expect(parseDateTime(text)?.toISOString()).toBe(instant);
  });

  it.each([
    '2026-12-01', // a date alone
    '2026-12-01T09:00:00', // no offset
    '2026-12-01T09:00Z', // no seconds
    '2026-12-01 09:00:00Z', // a space for T
    '2026-12-01T09:00:00+0100', // an offset without its colon
    '2026-12-01T09:00:00+01', // an offset without minutes
    '2026-12-01T09:00:00.Z', // a point without a fraction
    '2026-W49-1T09:00:00Z', // a week date
    '2026-335T09:00:00Z', // an ordinal date
    '20261201T090000Z', // the basic format
    '2026-02-29T00:00:00Z', // not a leap year
    '1900-02-29T00:00:00Z',
    '2026-04-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-00-10T00:00:00Z',
    '2026-12-00T00:00:00Z',
    '2026-12-01T24:00:00Z',
    '2026-12-01T09:60:00Z',
    '2026-12-01T09:00:61Z',
    '1998-12-31T23:59:61Z', // past a leap second
    '1998-12-31T23:58:60Z', // a leap second on the wrong minute
    '1998-12-31T22:59:60Z', // on the wrong hour
    '1998-12-31T23:59:60+01:00', // 22:59:60 UTC
    '2026-12-01T09:00:00+24:00',
    '2026-12-01T09:00:00+01:60',
    '0000-01-01T00:00:00Z', // outside the document's years
    '9999-01-01T00:00:00Z',
    '+002026-12-01T09:00:00Z',
    '2026-12-01T09:00:00Z ',
    ' 2026-12-01T09:00:00Z',
    '2026-12-01T09:00:00Z\n',
    '２０２６-12-01T09:00:00Z',
    '',
  ])('refuses %j', (text) => {
    expect(parseDateTime(text)).toBeUndefined();
  });

  it('refuses what is not a string', () => {
    for (const value of [null, undefined, 0, 1_700_000_000_000, new Date(), {}, []]) {
      expect(isDateTime(value)).toBe(false);
    }
  });

  it('reads back what Date.toISOString writes, for every instant of years 0001..9998', () => {
    const instants = fc.date({
      min: new Date('0001-01-02T00:00:00Z'),
      max: new Date('9998-12-30T00:00:00Z'),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(instants, (instant) => {
        expect(parseDateTime(instant.toISOString())?.getTime()).toBe(instant.getTime());
      }),
    );
  });

  it('agrees with Date.parse on the forms both read', () => {
    const form = fc.record({
      year: fc.integer({ min: 1970, max: 9998 }),
      month: fc.integer({ min: 1, max: 12 }),
      day: fc.integer({ min: 1, max: 28 }),
      hour: fc.integer({ min: 0, max: 23 }),
      minute: fc.integer({ min: 0, max: 59 }),
      second: fc.integer({ min: 0, max: 59 }),
      offset: fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
    });
    const two = (n: number) => String(n).padStart(2, '0');
    fc.assert(
      fc.property(form, ({ year, month, day, hour, minute, second, offset }) => {
        const sign = offset < 0 ? '-' : '+';
        const text =
          `${String(year).padStart(4, '0')}-${two(month)}-${two(day)}T${two(hour)}:${two(minute)}:` +
          `${two(second)}${sign}${two(Math.floor(Math.abs(offset) / 60))}:${two(Math.abs(offset) % 60)}`;
        expect(parseDateTime(text)?.getTime()).toBe(Date.parse(text));
      }),
    );
  });
});
