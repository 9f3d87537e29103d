import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {readFileSync} from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {ConstantSparsity, deserializeSchedule, PolynomialDecay, PruningSchedule, serializeSchedule} from '../src/index';
import {useBackend} from './helpers';

// Produced by tfmot 0.8.1 (TF 2.21); see its `versions` field.
interface GoldenSchedule {
  id: string;
  class_name: 'ConstantSparsity' | 'PolynomialDecay';
  params: Record<string, number>;
  get_config: {class_name: string, config: Record<string, number>};
  steps: number[];
  should_prune: boolean[];
  sparsity: Array<number | 'NaN'>;
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/schedules.json', import.meta.url), 'utf8')) as {
  schedules: GoldenSchedule[];
  invalid_constructions: Array<{class_name: string, params: Record<string, number>, message: string}>;
};

const camel = (params: Record<string, number>) =>
  Object.fromEntries(Object.entries(params).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]));

function build(className: string, params: Record<string, number>): PruningSchedule {
  const args = camel(params);
  return className === 'ConstantSparsity' ?
    new ConstantSparsity(args as unknown as ConstructorParameters<typeof ConstantSparsity>[0]) :
    new PolynomialDecay(args as unknown as ConstructorParameters<typeof PolynomialDecay>[0]);
}

const both = [
  (args: {beginStep: number, endStep?: number, frequency?: number, sparsity?: number}) =>
    new ConstantSparsity({targetSparsity: args.sparsity ?? 0.5, beginStep: args.beginStep,
      endStep: args.endStep, frequency: args.frequency}),
  (args: {beginStep: number, endStep?: number, frequency?: number, sparsity?: number}) =>
    new PolynomialDecay({initialSparsity: args.sparsity ?? 0.2, finalSparsity: 0.8, beginStep: args.beginStep,
      endStep: args.endStep ?? 1000, frequency: args.frequency}),
];

// ---

const goldenSuite = suite('golden values');

goldenSuite('every golden schedule equals tfmot at every recorded step (bit for bit)', () => {
  assert.is(golden.schedules.length, 18);
  let checked = 0;
  for (const g of golden.schedules) {
    const s = build(g.class_name, g.params);
    assert.equal(serializeSchedule(s).config, camel(g.get_config.config), `${g.id} config`);
    g.steps.forEach((step, i) => {
      const [prune, sparsity] = s.call(step);
      assert.is(prune, g.should_prune[i], `${g.id} step ${step} should_prune`);
      const p = s as PolynomialDecay;
      if (g.sparsity[i] === 'NaN') {
        // Porting Note: tfmot's 0/0 at begin == end; we define p = 1 (the final sparsity).
        assert.ok(g.class_name === 'PolynomialDecay' && p.beginStep === p.endStep && step === p.beginStep,
            `${g.id}: NaN only where begin == end == step`);
        assert.is(sparsity, Math.fround(p.finalSparsity), `${g.id} step ${step}`);
      } else {
        assert.ok(Object.is(sparsity, g.sparsity[i]), `${g.id} step ${step}: got ${sparsity}, want ${g.sparsity[i]}`);
      }
      checked++;
    });
  }
  assert.is(checked, 18 * 302);
});

goldenSuite('every golden invalid construction throws tfmot\'s message', () => {
  assert.is(golden.invalid_constructions.length, 8);
  for (const c of golden.invalid_constructions) {
    const pattern = new RegExp('^' + c.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '$');
    assert.throws(() => build(c.class_name, c.params), pattern, `${c.class_name} ${JSON.stringify(c.params)}`);
  }
});

goldenSuite.run();

// ---

const validation = suite('validation (pruning_schedule_test)');

validation('begin_step >= 0 for both schedules', () => {
  for (const make of both) {
    for (const b of [-1, -5]) assert.throws(() => make({beginStep: b}), /^begin_step should be >= 0$/);
    for (const b of [0, 1, 100]) make({beginStep: b});
  }
});

validation('end_step can be -1 or >= 0', () => {
  for (const make of both) {
    assert.throws(() => make({beginStep: 0, endStep: -5}), /^end_step can be -1 or >= 0$/);
    for (const e of [0, 1, 100]) make({beginStep: 0, endStep: e});
  }
});

validation('end_step >= begin_step, and begin == end is allowed', () => {
  for (const make of both) {
    assert.throws(() => make({beginStep: 10, endStep: 5}), /^begin_step should be <= end_step if end_step != -1$/);
    make({beginStep: 10, endStep: 10});
    make({beginStep: 10, endStep: 20});
  }
});

validation('frequency > 0', () => {
  for (const make of both) {
    for (const f of [0, -1, -5]) assert.throws(() => make({beginStep: 0, frequency: f}), /^frequency should be > 0$/);
    for (const f of [1, 10]) make({beginStep: 0, frequency: f});
  }
});

validation('sparsities in [0, 1), NaN rejected', () => {
  for (const v of [-0.001, -1, -10, 1.0, 10, NaN]) {
    assert.throws(() => new ConstantSparsity({targetSparsity: v, beginStep: 0}), /^target_sparsity must be in range \[0,1\)$/);
    assert.throws(() => new PolynomialDecay({initialSparsity: v, finalSparsity: 0.5, beginStep: 0, endStep: 10}),
        /^initial_sparsity must be in range \[0,1\)$/);
    assert.throws(() => new PolynomialDecay({initialSparsity: 0.5, finalSparsity: v, beginStep: 0, endStep: 10}),
        /^final_sparsity must be in range \[0,1\)$/);
  }
  for (const v of [0, 0.001, 0.5, 0.99]) {
    new ConstantSparsity({targetSparsity: v, beginStep: 0});
    new PolynomialDecay({initialSparsity: v, finalSparsity: v, beginStep: 0, endStep: 10});
  }
});

validation('PolynomialDecay({endStep: -1}) throws', () => {
  assert.throws(() => new PolynomialDecay({initialSparsity: 0.2, finalSparsity: 0.8, beginStep: 0, endStep: -1}),
      /^end_step cannot be -1\.$/);
});

validation('checks run in tfmot\'s order', () => {
  // begin < 0 is reported before a bad frequency or sparsity.
  assert.throws(() => new ConstantSparsity({targetSparsity: 2, beginStep: -1, frequency: 0}), /^begin_step/);
  assert.throws(() => new ConstantSparsity({targetSparsity: 2, beginStep: 0, frequency: 0}), /^frequency/);
});

validation('non-integer steps, bad power, unknown or missing options are rejected', () => {
  assert.throws(() => new ConstantSparsity({targetSparsity: 0.5, beginStep: 1.5}), /beginStep must be an integer, but got 1\.5/);
  assert.throws(() => new ConstantSparsity({targetSparsity: 0.5} as never), /beginStep must be an integer, but got undefined/);
  assert.throws(() => new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: '10' as never}),
      /frequency must be an integer, but got '10'/);
  assert.throws(() => new ConstantSparsity({targetSparsity: '0.5' as never, beginStep: 0}), /target_sparsity must be in range/);
  assert.throws(() => new ConstantSparsity({target_sparsity: 0.5, beginStep: 0} as never),
      /ConstantSparsity got an unknown option 'target_sparsity'; valid options are targetSparsity, beginStep, endStep, frequency/);
  assert.throws(() => new ConstantSparsity(undefined as never), /ConstantSparsity options must be an object/);
  for (const power of [-1, NaN, Infinity]) {
    assert.throws(() => new PolynomialDecay({initialSparsity: 0, finalSparsity: 0.5, beginStep: 0, endStep: 10, power}),
        /power must be a finite number >= 0/);
  }
  const s = new ConstantSparsity({targetSparsity: 0.5, beginStep: 0});
  assert.throws(() => s.call(1.5), /step passed to a pruning schedule must be an integer, but got 1\.5/);
  assert.throws(() => s.call(NaN), /must be an integer, but got NaN/);
});

validation.run();

// ---

const stepping = suite('call(step)');

stepping('prunes only in [begin, end] (freq 1), both schedules', () => {
  for (const make of both) {
    const s = make({beginStep: 100, endStep: 200, frequency: 1});
    for (const step of [90, 99, 201, 210]) assert.is(s.call(step)[0], false, `step ${step}`);
    for (const step of [100, 110, 200]) assert.is(s.call(step)[0], true, `step ${step}`);
  }
});

stepping('prunes only at valid frequency steps', () => {
  for (const make of both) {
    const s = make({beginStep: 100, endStep: 200, frequency: 10});
    for (const step of [100, 110]) assert.is(s.call(step)[0], true);
    for (const step of [109, 111]) assert.is(s.call(step)[0], false);
  }
});

stepping('ConstantSparsity prunes forever if endStep is -1', () => {
  const s = new ConstantSparsity({targetSparsity: 0.5, beginStep: 100, frequency: 10});
  for (const step of [10_000, 100_000_000]) assert.equal(s.call(step), [true, 0.5]);
  for (const step of [100, 110, 200]) assert.equal(s.call(step), [true, 0.5]);
});

stepping('PolynomialDecay(0.2, 0.8, 100, 110, power 3, freq 2) gives tfmot\'s values', () => {
  const s = new PolynomialDecay({initialSparsity: 0.2, finalSparsity: 0.8, beginStep: 100, endStep: 110, frequency: 2});
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-6;
  for (const [step, want] of [[100, 0.2], [102, 0.4928], [105, 0.725], [110, 0.8]]) {
    assert.ok(near(s.call(step)[1], want), `step ${step}: ${s.call(step)[1]}`);
  }
});

stepping('PolynomialDecay with begin == end: initial before, final from that step on', () => {
  const s = new PolynomialDecay({initialSparsity: 0.2, finalSparsity: 0.8, beginStep: 5, endStep: 5, frequency: 1});
  assert.equal(s.call(4), [false, Math.fround(Math.fround(0.2 - 0.8) + Math.fround(0.8))]);
  assert.equal(s.call(5), [true, Math.fround(0.8)]);
  assert.equal(s.call(6), [false, Math.fround(0.8)]);
});

stepping('sparsity is a float32 value', () => {
  const [, v] = new ConstantSparsity({targetSparsity: 0.1, beginStep: 0}).call(0);
  assert.is(v, Math.fround(0.1));
});

stepping.run();

// ---

const serial = suite('serializeSchedule / deserializeSchedule');

serial('round trip keeps every field, for every golden schedule', () => {
  for (const g of golden.schedules) {
    const s = build(g.class_name, g.params);
    const json = serializeSchedule(s);
    assert.is(json.className, g.class_name);
    const back = deserializeSchedule(JSON.parse(JSON.stringify(json)));
    assert.instance(back, s.constructor as typeof ConstantSparsity);
    assert.equal({...back}, {...s}, g.id);
  }
});

serial('loads tfmot\'s pythonic {class_name, config} with snake_case keys', () => {
  for (const g of golden.schedules) {
    const back = deserializeSchedule(g.get_config);
    assert.equal(serializeSchedule(back), {className: g.get_config.class_name, config: camel(g.get_config.config)});
  }
});

serial('config keys are saved in tfmot\'s snake_case through a model\'s toJSON, and load back', async () => {
  // A minimal layer holding a schedule in its config, as the pruning wrapper does.
  class HoldsSchedule extends tfl.layers.Layer {
    static className = 'HoldsScheduleForTest';
    readonly schedule: PruningSchedule;
    constructor(args: {pruningSchedule: PruningSchedule | {className: string, config: tf.serialization.ConfigDict}}) {
      super({});
      const s = args.pruningSchedule;
      this.schedule = s instanceof PruningSchedule ? s : deserializeSchedule(s);
    }
    override getConfig() {
      return {...super.getConfig(), pruningSchedule: serializeSchedule(this.schedule) as unknown as tf.serialization.ConfigDict};
    }
  }
  tf.serialization.registerClass(HoldsSchedule);
  await useBackend('cpu');
  const before = tf.memory().numTensors;
  const schedule = new PolynomialDecay({initialSparsity: 0.2, finalSparsity: 0.8, beginStep: 0, endStep: 8, frequency: 2});
  const model = tfl.sequential({layers: [tfl.layers.dense({units: 2, inputShape: [3]}), new HoldsSchedule({pruningSchedule: schedule})]});
  const json = model.toJSON(null, false) as unknown as {config: {layers: Array<{config: Record<string, unknown>}>}};
  const saved = json.config.layers[1].config.pruning_schedule;
  const goldenPoly = golden.schedules.find(g => g.id === 'poly_0.2_0.8_b0_e8_f2')!;
  assert.equal(saved, goldenPoly.get_config);
  assert.equal(Object.keys((saved as {config: object}).config), Object.keys(goldenPoly.get_config.config), 'key order');
  const loaded = await tfl.models.modelFromJSON(json as never);
  const back = (loaded.layers[1] as HoldsSchedule).schedule;
  assert.instance(back, PolynomialDecay);
  assert.equal({...back}, {...schedule});
  model.dispose();
  loaded.dispose();
  assert.is(tf.memory().numTensors, before);
});

serial('a registered custom subclass serializes and deserializes like ours', () => {
  class StepIndependentConstantSparsity extends PruningSchedule {
    static className = 'StepIndependentConstantSparsity';
    readonly targetSparsity: number;
    constructor(args: {targetSparsity: number}) {
      super();
      PruningSchedule.validateSparsity(args.targetSparsity, 'target_sparsity');
      this.targetSparsity = args.targetSparsity;
    }
    call(): [boolean, number] { return [true, Math.fround(this.targetSparsity)]; }
    getConfig() { return {targetSparsity: this.targetSparsity}; }
  }
  assert.throws(() => deserializeSchedule({className: 'StepIndependentConstantSparsity', config: {targetSparsity: 0.3}}),
      /Unknown pruning schedule class 'StepIndependentConstantSparsity'\. Known schedules: ConstantSparsity, PolynomialDecay\. .*registerClass/);
  tf.serialization.registerClass(StepIndependentConstantSparsity);
  const s = new StepIndependentConstantSparsity({targetSparsity: 0.3});
  assert.equal(serializeSchedule(s), {className: 'StepIndependentConstantSparsity', config: {targetSparsity: 0.3}});
  const back = deserializeSchedule({class_name: 'StepIndependentConstantSparsity', config: {target_sparsity: 0.3}});
  assert.instance(back, StepIndependentConstantSparsity);
  assert.equal(back.call(12345), [true, Math.fround(0.3)]);
  assert.throws(() => new StepIndependentConstantSparsity({targetSparsity: 1}), /^target_sparsity must be in range \[0,1\)$/);
  // Registered names with a package prefix are found by class name.
  assert.instance(deserializeSchedule({className: 'Custom>StepIndependentConstantSparsity', config: {targetSparsity: 0.1}}),
      StepIndependentConstantSparsity);
});

serial('schedules of another copy of the library (e.g. its CJS and ESM builds) are accepted', () => {
  // What a second copy of src/pruning/schedules.ts looks like from here: its own base class, same brand.
  abstract class OtherCopyBase extends tf.serialization.Serializable {
    abstract call(step: number): [boolean, number];
  }
  Object.defineProperty(OtherCopyBase.prototype, Symbol.for('tfjs-sparsity.PruningSchedule'), {value: true});
  class OtherCopyConstant extends OtherCopyBase {
    static className = 'ConstantSparsity';
    constructor(readonly args: {targetSparsity: number}) { super(); }
    call(): [boolean, number] { return [true, this.args.targetSparsity]; }
    getConfig() { return {...this.args}; }
  }
  class OtherCopyCustom extends OtherCopyConstant {
    static override className = 'OtherCopyCustomSchedule';
  }
  const foreign = new OtherCopyConstant({targetSparsity: 0.5});
  assert.ok(foreign instanceof PruningSchedule);
  assert.not.ok(foreign instanceof ConstantSparsity);
  assert.not.ok({} instanceof PruningSchedule);
  assert.not.ok((null as unknown as object) instanceof PruningSchedule);
  assert.equal(serializeSchedule(foreign as unknown as PruningSchedule), {className: 'ConstantSparsity', config: {targetSparsity: 0.5}});
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  const ours = map.ConstantSparsity;
  try {
    // The other copy registered last: built-in names still resolve to this copy's classes (tfmot's custom_objects).
    tf.serialization.registerClass(OtherCopyConstant as never);
    tf.serialization.registerClass(OtherCopyCustom as never);
    assert.instance(deserializeSchedule({className: 'ConstantSparsity', config: {targetSparsity: 0.5, beginStep: 0}}), ConstantSparsity);
    const custom = deserializeSchedule({className: 'OtherCopyCustomSchedule', config: {targetSparsity: 0.25}});
    assert.instance(custom, OtherCopyCustom);
    assert.ok(custom instanceof PruningSchedule);
  } finally {
    map.ConstantSparsity = ours;
    delete map.OtherCopyCustomSchedule;
  }
});

serial('bad input gives clear errors', () => {
  assert.throws(() => deserializeSchedule({className: 'Dense', config: {}}), /Class 'Dense' is registered but is not a PruningSchedule/);
  assert.throws(() => deserializeSchedule({className: 'Nope', config: {}}),
      /Unknown pruning schedule class 'Nope'\. Known schedules: .*ConstantSparsity, PolynomialDecay/);
  assert.throws(() => deserializeSchedule({className: 'ConstantSparsity'} as never), /expects \{className, config\}/);
  assert.throws(() => deserializeSchedule(null as never), /expects \{className, config\}.*got null/);
  assert.throws(() => serializeSchedule({} as never), /serializeSchedule expects a PruningSchedule/);
  assert.throws(() => deserializeSchedule({class_name: 'ConstantSparsity', config: {target_sparsity: 1, begin_step: 0}}),
      /^target_sparsity must be in range \[0,1\)$/);
});

serial.run();
