import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {erkSparsities, sensitivitySparsities} from '../src/index';
import type {SensitivityCurve} from '../src/index';

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

const erk = suite('erkSparsities');

erk('erkSparsities keeps densities proportional to Σ dims / Π dims and meets the target', () => {
  const layers = [{name: 'a', shape: [100, 100]}, {name: 'b', shape: [400, 50]}, {name: 'c', shape: [3, 3, 16, 32]}];
  const s = erkSparsities(layers, 0.8);
  const total = layers.reduce((t, l) => t + size(l.shape), 0);
  const kept = layers.reduce((t, l) => t + (1 - s[l.name]) * size(l.shape), 0);
  assert.ok(Math.abs(kept / total - 0.2) < 1e-12, `kept ${kept / total}`);
  // density_a / density_b = (200 / 10000) / (450 / 20000)
  const ratio = (1 - s.a) / (1 - s.b);
  assert.ok(Math.abs(ratio - (200 / 10000) / (450 / 20000)) < 1e-12, `ratio ${ratio}`);
});

erk('a layer whose ERK density would exceed 1 stays dense and the others take its share', () => {
  const layers = [{name: 'tiny', shape: [3, 3, 1, 4]}, {name: 'big', shape: [1000, 500]}];
  const s = erkSparsities(layers, 0.5);
  assert.is(s.tiny, 0);
  const total = 36 + 500000;
  assert.ok(Math.abs((s.big * 500000) / total - 0.5) < 1e-12, `big ${s.big}`);
});

erk('erkSparsities throws naming the argument', () => {
  assert.throws(() => erkSparsities([{name: 'a', shape: [2, 2]}], 1), /'target' passed to 'erkSparsities'/);
  assert.throws(() => erkSparsities([], 0.5), /'layers' passed to 'erkSparsities'/);
});

erk.run();

// ---

const sens = suite('sensitivitySparsities');

const curve = (name: string, params: number, values: number[]): SensitivityCurve =>
  ({layer: name, params, sparsities: [0.5, 0.8, 0.9], values});

sens('sensitivitySparsities meets the target exactly and prunes the insensitive layer first', () => {
  const curves = [curve('robust', 1000, [0.001, 0.002, 0.004]), curve('fragile', 1000, [0.5, 1, 2])];
  const s = sensitivitySparsities(curves, 0.5);
  assert.ok(Math.abs((s.robust * 1000 + s.fragile * 1000) / 2000 - 0.5) < 1e-12, JSON.stringify(s));
  assert.is(s.robust, 0.9);
  assert.ok(Math.abs(s.fragile - 0.1) < 1e-12, JSON.stringify(s));
});

sens('cost is per weight pruned: a big layer with the same curve goes first', () => {
  const s = sensitivitySparsities([curve('small', 100, [0.1, 0.2, 0.4]), curve('big', 10000, [0.1, 0.2, 0.4])], 0.5);
  assert.ok(s.big > s.small, JSON.stringify(s));
});

sens('a non-convex curve is walked on its lower hull (a costly first step before a free stretch)', () => {
  const bumpy: SensitivityCurve = {layer: 'bumpy', params: 1000, sparsities: [0.3, 0.9], values: [0.3, 0.3]};
  const linear: SensitivityCurve = {layer: 'linear', params: 1000, sparsities: [0.3, 0.9], values: [0.2, 0.9]};
  const s = sensitivitySparsities([bumpy, linear], 0.45);
  assert.is(s.bumpy, 0.9, 'jumps straight to the end of the flat stretch');
  assert.ok(Math.abs(s.linear) < 1e-12, JSON.stringify(s));
});

sens('an unreachable target and malformed curves are errors naming the argument', () => {
  assert.throws(() => sensitivitySparsities([curve('a', 10, [1, 2, 3])], 0.95), /'target'.*cannot be reached.*0\.9000/);
  assert.throws(() => sensitivitySparsities([{layer: 'a', params: 10, sparsities: [0.5], values: [1, 2]}], 0.3),
                /'curves'.*'a'/);
  assert.throws(() => sensitivitySparsities([curve('a', 10, [NaN, 1, 2])], 0.3), /'curves'.*finite/);
  assert.throws(() => sensitivitySparsities([], 0.3), /'curves'.*non-empty/);
});

sens.run();
