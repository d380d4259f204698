// By hand: how long after a server comes back a client reconnects, with the SDK's
// default backoff and with the demo page's, by simulation of fullJitter (no
// sockets): every attempt while the server is down fails at once. `npm run build`
// first; results in docs/client.md ("Reconnects by itself").
import { fullJitter } from '../dist/client/backoff.js';
// A tab loses the server at t=0 (close 1001); every attempt while it is down fails at once.
// How long after the server is back does the tab reconnect? (p50, p90, p99, max over 100k tabs)
function sim(downMs, opts) {
  const waits = [];
  for (let i = 0; i < 100_000; i++) {
    let t = 0,
      attempt = 0;
    for (;;) {
      t += fullJitter(attempt++, opts);
      if (t >= downMs) break;
    }
    waits.push(t - downMs);
  }
  waits.sort((a, b) => a - b);
  const q = (p) => (waits[Math.floor(p * (waits.length - 1))] / 1000).toFixed(1);
  return `p50 ${q(0.5)} s  p90 ${q(0.9)} s  p99 ${q(0.99)} s  max ${q(1)} s`;
}
for (const down of [1000, 2000, 3000, 5000]) {
  console.log(
    `down ${down / 1000} s: SDK default (500 ms..20 s): ${sim(down, { initialDelay: 500, maxDelay: 20000 })} | demo (250 ms..2 s): ${sim(down, { initialDelay: 250, maxDelay: 2000 })}`,
  );
}
