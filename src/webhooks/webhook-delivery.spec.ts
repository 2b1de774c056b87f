import { retryDelayMs } from './webhook-delivery.js';

describe('webhook retry delays', () => {
  const middle = () => 0.5;

  it('double from 1 s up to the cap, and stay there', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100, 5000].map((n) => retryDelayMs(n, 60_000, middle))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000,
    ]);
  });

  it('vary within ±20% but never pass the cap', () => {
    expect(retryDelayMs(3, 60_000, () => 0)).toBe(3200);
    expect(retryDelayMs(3, 60_000, () => 0.999_999)).toBe(4800);
    expect(retryDelayMs(7, 60_000, () => 0.999_999)).toBe(60_000);
    expect(retryDelayMs(9, 5000, () => 0)).toBe(4000);
  });

  it('keep an event tried for more than 24 h within a day of tries at the cap', () => {
    // With the cap at one minute, 1,440 tries cover a day; tries never stop while the webhook exists.
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < 24 * 3600 * 1000) elapsed += retryDelayMs(++attempts, 60_000, middle);
    expect(attempts).toBeLessThan(1450);
  });
});
