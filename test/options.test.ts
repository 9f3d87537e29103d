import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {booleanOption, checkOptions, describeValue} from '../src/util/options';

const describe = suite('describeValue');

describe('describeValue quotes strings and names objects by class', () => {
  assert.is(describeValue('yes'), "'yes'");
  assert.is(describeValue(null), 'null');
  assert.is(describeValue(undefined), 'undefined');
  assert.is(describeValue(3), '3');
  assert.is(describeValue([1, 'a']), '[1,"a"]');
  assert.is(describeValue(new Map()), 'Map');
  assert.is(describeValue(Object.create(null)), 'object');
  class Named {
    static className = 'TfjsName';
  }
  assert.is(describeValue(new Named()), 'TfjsName');
});

describe.run();

// ---

const check = suite('checkOptions');

check('checkOptions returns the object, {} for undefined', () => {
  const options = {a: 1};
  assert.is(checkOptions(options, ['a', 'b'], 'f'), options);
  assert.equal(checkOptions(undefined, ['a'], 'f'), {});
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

const bool = suite('booleanOption');

bool('booleanOption passes booleans and undefined, names anything else', () => {
  assert.is(booleanOption(true, 'flag', 'f'), true);
  assert.is(booleanOption(false, 'flag', 'f'), false);
  assert.is(booleanOption(undefined, 'flag', 'f'), undefined);
  for (const value of ['yes', 1, null, {}]) {
    assert.throws(() => booleanOption(value, 'flag', 'f'), /^f: flag must be true or false, but got /);
  }
});

bool.run();
