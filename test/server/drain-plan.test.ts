// The retry hints of a drain (docs/protocol.md, "Deploys without storms"),
// with the clock and the dice in the test's hands.
import { expect, it } from 'vitest';
import { DrainPlan } from '../../src/server/drain-plan.js';

const at = (t: number) => () => t;
const dice = (value: number) => () => value;

it('spreads the closes over drainWindow, but closes at least 1,000 a second', () => {
  expect(new DrainPlan(10_000, 10_000, true, at(0)).windowMs).toBe(10_000);
  expect(new DrainPlan(10_000, 300, true, at(0)).windowMs).toBe(300);
  expect(new DrainPlan(10_000, 50_000, true, at(0)).windowMs).toBe(10_000);
  expect(new DrainPlan(0, 10_000, true, at(0)).windowMs).toBe(0);
});

it('with other nodes alive, tells each closed client to come back within a second: to another node, spread by the pacing', () => {
  expect(new DrainPlan(10_000, 10_000, true, at(0), dice(0)).closeHint()).toBe(0);
  expect(new DrainPlan(10_000, 10_000, true, at(0), dice(0.999)).closeHint()).toBe(999);
});

it('alone, tells each closed client to come back a second after the drain (the restart), spread by 1 s per 1,500 clients (1 to 10 s)', () => {
  let now = 0;
  const plan = (sessions: number, random: number) => new DrainPlan(10_000, sessions, false, () => now, dice(random));
  now = 0;
  const big = plan(10_000, 0.5);
  now = 4_000; // 6 s of the window left, a second for the restart, and half of a 6.7 s spread
  expect(big.closeHint()).toBe(6_000 + 1_000 + 3_333);
  now = 0;
  expect(plan(100, 0.5).closeHint()).toBe(100 + 1_000 + 500); // a 0.1 s window, a 1 s spread at the least
  expect(plan(100_000, 0.999).closeHint()).toBe(10_000 + 1_000 + 9_990); // 10 s at the most
});

it('tells a client that comes back during the drain to wait for its end, whether or not other nodes are alive', () => {
  let now = 0;
  const withPeers = new DrainPlan(10_000, 10_000, true, () => now, dice(0));
  now = 9_000;
  expect(withPeers.returnHint()).toBe(1_000 + 1_000);
  now = 12_000;
  expect(withPeers.returnHint()).toBe(1_000);
});
