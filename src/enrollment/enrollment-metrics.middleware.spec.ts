import { countedStatusOf } from './enrollment-metrics.middleware.js';

describe('countedStatusOf', () => {
  it.each([
    [202, 'queued'],
    [200, 'replayed'],
    [400, 'rejected_invalid'],
    [404, 'rejected_invalid'],
    [422, 'rejected_invalid'],
    [503, 'unavailable'],
    [429, 'rate_limited'],
    [500, null],
  ])('counts a %i as %s', (statusCode, expected) => {
    expect(countedStatusOf(statusCode)).toBe(expected);
  });
});
