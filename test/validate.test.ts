import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {booleanOption, checkChoice, checkOptions, checkSparsity, describeValue, isPositiveIntPair, positiveIntPair}
  from '../src/util/validate';

const describe = suite('describeValue');

describe('describeValue quotes strings and names objects by class', () => {
  assert.is(describeValue('yes'), "'yes'");
  assert.is(describeValue(null), 'null');
  assert.is(describeValue(undefined), 'undefined');
  assert.is(describeValue(3), '3');
  assert.is(describeValue([1, 'a']), '[1,"a"]');
  assert.is(describeValue(new Map()), 'Map');
  assert.is(describeValue({}), 'Object');
  assert.is(describeValue(Object.create(null)), 'object');
  class Named {
    static className = 'TfjsName';
  }
  assert.is(describeValue(new Named()), 'TfjsName');
});

describe("describeValue(value, 'type') names a primitive's type, an object's class", () => {
  assert.is(describeValue(42, 'type'), 'number');
  assert.is(describeValue('x', 'type'), 'string');
  assert.is(describeValue(undefined, 'type'), 'undefined');
  assert.is(describeValue(null, 'type'), 'null');
  assert.is(describeValue([1], 'type'), 'Array');
  assert.is(describeValue(new Map(), 'type'), 'Map');
});

describe('describeValue shows long arrays and strings by their size (a corrupt file may hold anything)', () => {
  assert.is(describeValue(new Array(1000).fill(7)), 'an array of 1000 entries');
  assert.is(describeValue('x'.repeat(500)), 'a string of 500 characters');
});

describe.run();

// ---

const check = suite('checkOptions');

check('checkOptions returns the object, {} for undefined unless required', () => {
  const options = {a: 1};
  assert.is(checkOptions(options, ['a', 'b'], 'f'), options);
  assert.equal(checkOptions(undefined, ['a'], 'f'), {});
  assert.throws(() => checkOptions(undefined, ['a'], 'f', true), /^f options must be an object \{a\}, but got undefined$/);
});

check('checkOptions rejects non-objects and unknown names, listing the valid ones', () => {
  for (const [value, shown] of [[null, 'null'], [5, '5'], ['x', "'x'"], [[1], '\\[1\\]'], [true, 'true']] as const) {
    assert.throws(() => checkOptions(value as never, ['a', 'b'], 'f'),
        new RegExp(`^f options must be an object \\{a, b\\}, but got ${shown}$`), String(value));
  }
  assert.throws(() => checkOptions({a: 1, block_size: 2} as object, ['a', 'b'], 'f'),
      /^f got an unknown option 'block_size'; valid options are a, b$/);
});

check.run();

// ---

const choice = suite('checkChoice');

choice('checkChoice returns a valid value and names the argument, the choices and the value otherwise', () => {
  const valid = ['AVG', 'MAX'] as const;
  assert.is(checkChoice('MAX', valid, 'pooling', 'f'), 'MAX');
  assert.throws(() => checkChoice('avg', valid, 'pooling', 'f'),
      /^Argument 'pooling' passed to 'f' must be one of 'AVG', 'MAX', but got 'avg'$/);
  assert.throws(() => checkChoice(3, valid, 'pooling', 'f'), /but got 3$/);
  assert.throws(() => checkChoice(undefined, valid, 'Layer x: invalid config: pooling'),
      /^Layer x: invalid config: pooling must be one of 'AVG', 'MAX', but got undefined$/);
});

choice.run();

// ---

const pair = suite('positiveIntPair');

pair('isPositiveIntPair holds for two positive integers only', () => {
  assert.ok(isPositiveIntPair([1, 16]));
  for (const bad of [[0, 1], [1], [1, 2, 3], [1.5, 2], ['1', 2], null, 3, [1, Infinity]]) {
    assert.not.ok(isPositiveIntPair(bad), JSON.stringify(bad));
  }
});

pair('positiveIntPair returns a copy and names the argument, the form and the value otherwise', () => {
  const block: [number, number] = [2, 4];
  const out = positiveIntPair(block, 'blockSize', 'f');
  assert.equal(out, [2, 4]);
  assert.is.not(out, block);
  assert.throws(() => positiveIntPair([0, 4], 'blockSize', 'f'),
      /^Argument 'blockSize' passed to 'f' must be a pair of positive integers \[height, width\], but got \[0,4\]$/);
  assert.throws(() => positiveIntPair('x', 'mByN', undefined, '[m, n]'), /^mByN must be a pair of positive integers \[m, n\], but got 'x'$/);
});

pair.run();

// ---

const sparsity = suite('checkSparsity');

sparsity('checkSparsity takes [0, 1), or [0, 1] with upToOne', () => {
  checkSparsity(0, 'f');
  checkSparsity(0.99, 'f');
  checkSparsity(1, 'f', 'minSparsity', true);
  assert.throws(() => checkSparsity(1, 'f'), /^Argument 'sparsity' passed to 'f' must be a number in \[0, 1\), but got 1$/);
  assert.throws(() => checkSparsity(-0.1, 'f', 'minSparsity', true), /'minSparsity' passed to 'f' must be a number in \[0, 1\], but got -0.1$/);
  assert.throws(() => checkSparsity(NaN, 'f'), /but got NaN$/);
  assert.throws(() => checkSparsity('0.5' as never, 'f'), /but got '0.5'$/);
});

sparsity.run();

// ---

const bool = suite('booleanOption');

bool('booleanOption passes booleans and undefined, names anything else', () => {
  assert.is(booleanOption(true, 'flag', 'f'), true);
  assert.is(booleanOption(false, 'flag', 'f'), false);
  assert.is(booleanOption(undefined, 'flag', 'f'), undefined);
  for (const value of ['yes', 1, null, {}]) {
    assert.throws(() => booleanOption(value, 'flag', 'f'), /^Argument 'flag' passed to 'f' must be true or false, but got /);
  }
});

bool.run();
