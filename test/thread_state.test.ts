// The process's thread state (src/kernels/thread_state.ts): GainMonitor, which suspends threads
// while calls run slower than one thread would (its limits: src/kernels/thread_limits.ts).
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {SUSPEND_MS} from '../src/kernels/thread_limits';
import {GainMonitor} from '../src/kernels/thread_state';

const gain = suite('GainMonitor');

gain('calls slower than one thread suspend threads for SUSPEND_MS; calls that pay keep them', () => {
  let now = 0;
  const m = new GainMonitor(() => now);
  for (let i = 0; i < 20; i++) m.record(1, 1.1, 2, 1);  // 2 equal parts: 1.8x
  assert.ok(m.paying);
  m.record(1, 3, 2, 1);  // 0.67x once: the average holds
  assert.ok(m.paying);
  assert.is(m.suspensions, 0);
  for (let i = 0; i < 20 && m.paying; i++) m.record(1, 3, 2, 1);
  assert.not.ok(m.paying, 'suspended after a run of slow calls');
  assert.is(m.suspensions, 1, 'the suspension is counted (kernelInfo().suspensions)');
  now += SUSPEND_MS - 1;
  assert.not.ok(m.paying);
  now += 2;
  assert.ok(m.paying, 'tried again after the suspension');
  m.record(1, 3, 2, 1);
  m.reset();
  assert.ok(m.paying);
});

gain('parts run on the calling thread count for it: 3 parts there in the time of one call is no gain', () => {
  const m = new GainMonitor(() => 0);
  for (let i = 0; i < 30; i++) m.record(3, 3, 3, 3);
  assert.ok(m.paying, 'exactly one thread\'s time: not below MIN_GAIN');
});

gain.run();
