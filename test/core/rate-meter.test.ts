import { expect, it } from 'vitest';
import { RateMeter } from '../../src/server/core/rate-meter.js';

it('reports growth per second over the window, forgetting older samples', () => {
  let now = 0;
  let count = 0;
  const meter = new RateMeter(
    () => ({ count }),
    10_000,
    () => now,
  );
  expect(meter.rates()).toEqual({ count: 0 });
  meter.sample();
  for (let second = 1; second <= 5; second++) {
    now = second * 1000;
    count += 100;
    meter.sample();
  }
  expect(meter.rates()).toEqual({ count: 100 });
  // A burst of 3,000 in one second, then ten quiet seconds: it leaves the window.
  now += 1000;
  count += 3000;
  meter.sample();
  expect(meter.rates().count).toBeCloseTo(3500 / 6, 1);
  for (let i = 0; i < 11; i++) {
    now += 1000;
    meter.sample();
  }
  expect(meter.rates()).toEqual({ count: 0 });
});
