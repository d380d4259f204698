// The client's timing rules, on a clock the test moves.
import { describe, expect, it } from 'vitest';
import { fullJitter } from '../../src/client/backoff.js';
import { ClientHeartbeat } from '../../src/client/heartbeat.js';
import { expiryOf } from '../../src/client/token.js';

describe('heartbeat', () => {
  function setup() {
    let now = 0;
    const events: string[] = [];
    const hb = new ClientHeartbeat(
      25_000,
      10_000,
      () => events.push(`ping@${now}`),
      () => events.push(`dead@${now}`),
      () => now,
    );
    return { hb, events, at: (t: number) => ((now = t), hb.check()) };
  }

  it('pings after interval of silence, and is dead only timeout after the ping', () => {
    const { events, at } = setup();
    at(24_999);
    expect(events).toEqual([]);
    at(25_000);
    at(34_999);
    expect(events).toEqual(['ping@25000']);
    at(35_000);
    expect(events).toEqual(['ping@25000', 'dead@35000']);
  });

  it('treats a timer that fires a minute late as a reason to ping, not as death', () => {
    const { hb, events, at } = setup();
    // A background tab: the first check comes 90 s after the last frame.
    at(90_000);
    expect(events).toEqual(['ping@90000']);
    hb.received();
    at(95_000);
    expect(events).toEqual(['ping@90000']);
  });

  it('any frame clears an outstanding ping', () => {
    const { hb, events, at } = setup();
    at(25_000);
    hb.received();
    at(40_000);
    expect(events).toEqual(['ping@25000']);
  });
});

describe('backoff', () => {
  it('draws from 0 to min(maxDelay, initialDelay * 2^attempt)', () => {
    const options = { initialDelay: 500, maxDelay: 20_000 };
    expect(fullJitter(0, options, () => 0.999)).toBe(499);
    expect(fullJitter(3, options, () => 0.999)).toBe(3_996);
    expect(fullJitter(10, options, () => 0.999)).toBe(19_980);
    expect(fullJitter(1_000, options, () => 0.5)).toBe(10_000);
    expect(fullJitter(5, options, () => 0)).toBe(0);
  });
});

describe('token expiry', () => {
  it('reads exp from a JWT without verifying it, and null otherwise', () => {
    const payload = btoa(JSON.stringify({ sub: 'x', exp: 1_900_000_000 })).replace(/=+$/, '');
    expect(expiryOf(`h.${payload}.s`)).toBe(1_900_000_000);
    expect(expiryOf('not a jwt')).toBeNull();
    expect(expiryOf(`h.${btoa('{"sub":"x"}')}.s`)).toBeNull();
  });
});
