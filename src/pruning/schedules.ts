/**
 * Pruning schedules: when to update the masks and to which sparsity. A one-to-one port of tfmot's
 * `pruning_schedule.py` (`PruningSchedule`, `ConstantSparsity`, `PolynomialDecay`), with its
 * validation messages word for word and its float32 arithmetic, so every value equals tfmot's.
 */
import {serialization} from '@tensorflow/tfjs-core';
import {checkOptions, describeValue} from '../util/validate';

const SCHEDULE_BRAND = Symbol.for('tfjs-sparsity.PruningSchedule');

/** The serialized form of a schedule, as stored in a `PruneLowMagnitude` layer's config. */
export interface SerializedSchedule {
  className: string;
  config: serialization.ConfigDict;
}

/**
 * Base class of every pruning schedule. A schedule answers, for a training step, whether the
 * masks are updated in that step and with which target sparsity.
 *
 * Write a custom schedule by subclassing it, as in tfmot: implement `call` and `getConfig`, give the
 * class a `static className` and register it with `tf.serialization.registerClass` so that a model
 * using it can be saved and loaded.
 * ```ts
 * class EveryStep extends PruningSchedule {
 *   static className = 'EveryStep';
 *   constructor(private readonly args: {sparsity: number}) { super(); }
 *   call(step: number): [boolean, number] { return [true, Math.fround(this.args.sparsity)]; }
 *   getConfig() { return {sparsity: this.args.sparsity}; }
 * }
 * tf.serialization.registerClass(EveryStep);
 * ```
 * Porting Note: tfmot's `get_config()` returns `{class_name, config}`; here `getConfig()` returns the
 * inner config (tfjs's `Serializable` contract, so `fromConfig` is `new cls(config)`), and
 * `serializeSchedule` gives the outer `{className, config}`.
 */
export abstract class PruningSchedule extends serialization.Serializable {
  /**
   * `x instanceof PruningSchedule` also holds for schedules made by another copy of this library in
   * the same process (e.g. its ESM and CJS builds, both loaded), which share tfjs's class registry.
   * For subclasses, `instanceof` is the ordinary prototype check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== PruningSchedule) return Function.prototype[Symbol.hasInstance].call(this, value);
    return value != null && (value as Record<symbol, unknown>)[SCHEDULE_BRAND] === true;
  }

  /**
   * Whether to update the masks in `step`, and the target sparsity (a float32 value) for it.
   * @param step The wrapper's pruning step (the first training batch is step 1).
   */
  abstract call(step: number): [shouldPrune: boolean, sparsity: number];

  /**
   * tfmot's `_should_prune_in_step`: prune iff `begin <= step`, `step <= end` (or `end == -1`) and
   * `(step - begin) % frequency == 0`.
   */
  protected static shouldPruneInStep(step: number, beginStep: number, endStep: number,
      frequency: number): boolean {
    checkStep(step);
    const inRange = step >= beginStep && (step <= endStep || endStep < 0);
    return inRange && (step - beginStep) % frequency === 0;
  }

  /**
   * tfmot's `_validate_step`, checks in tfmot's order with tfmot's messages; before them, our own check
   * that each value is an integer (tfmot does not type-check).
   * @throws Error `'begin_step should be >= 0'`, `'end_step cannot be -1.'` (if `!allowNegative1`),
   *     `'end_step can be -1 or >= 0'`, `'begin_step should be <= end_step if end_step != -1'`,
   *     `'frequency should be > 0'`.
   */
  protected static validateStep(beginStep: number, endStep: number, frequency: number,
      allowNegative1: boolean): void {
    checkInteger(beginStep, 'beginStep');
    checkInteger(endStep, 'endStep');
    checkInteger(frequency, 'frequency');
    if (beginStep < 0) throw new Error('begin_step should be >= 0');
    if (!allowNegative1 && endStep === -1) throw new Error('end_step cannot be -1.');
    if (endStep !== -1) {
      if (endStep < 0) throw new Error('end_step can be -1 or >= 0');
      if (endStep < beginStep) throw new Error('begin_step should be <= end_step if end_step != -1');
    }
    if (frequency <= 0) throw new Error('frequency should be > 0');
  }

  /**
   * tfmot's `_validate_sparsity`: a number in [0, 1) (NaN and non-numbers fail too).
   * @param name tfmot's argument name used in the message, e.g. `'target_sparsity'`.
   * @throws Error `'<name> must be in range [0,1)'`.
   */
  protected static validateSparsity(sparsity: number, name: string): void {
    if (typeof sparsity !== 'number' || !(sparsity >= 0 && sparsity < 1)) {
      throw new Error(`${name} must be in range [0,1)`);
    }
  }
}

Object.defineProperty(PruningSchedule.prototype, SCHEDULE_BRAND, {value: true});

function checkInteger(value: unknown, name: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new Error(`${name} must be an integer, but got ${describeValue(value)}`);
  }
}

function checkStep(step: unknown): void {
  if (typeof step !== 'number' || !Number.isInteger(step)) {
    throw new Error(`The step passed to a pruning schedule must be an integer, but got ${describeValue(step)}`);
  }
}

/** Options of `ConstantSparsity` (tfmot's arguments in camelCase). */
export interface ConstantSparsityArgs {
  /** Sparsity to prune to, in [0, 1). */
  targetSparsity: number;
  /** First step at which to prune. */
  beginStep: number;
  /** Last step at which to prune; -1 (the default) prunes until training ends. */
  endStep?: number;
  /** Prune every `frequency` steps (default 100). */
  frequency?: number;
}

const CONSTANT_SPARSITY_OPTIONS = ['targetSparsity', 'beginStep', 'endStep', 'frequency'] as const;

/**
 * Prunes to a constant sparsity every `frequency` steps from `beginStep` to `endStep`.
 * ```ts
 * const schedule = new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 100});
 * schedule.call(200);  // [true, 0.5]
 * ```
 * @throws Error with tfmot's messages, e.g. `'target_sparsity must be in range [0,1)'`,
 *     `'begin_step should be >= 0'` (see `PruningSchedule.validateStep`).
 */
export class ConstantSparsity extends PruningSchedule {
  /** @nocollapse */
  static className = 'ConstantSparsity';
  readonly targetSparsity: number;
  readonly beginStep: number;
  readonly endStep: number;
  readonly frequency: number;

  constructor(args: ConstantSparsityArgs) {
    super();
    checkOptions(args, CONSTANT_SPARSITY_OPTIONS, 'ConstantSparsity', true);
    const {targetSparsity, beginStep, endStep = -1, frequency = 100} = args;
    PruningSchedule.validateStep(beginStep, endStep, frequency, true);
    PruningSchedule.validateSparsity(targetSparsity, 'target_sparsity');
    this.targetSparsity = targetSparsity;
    this.beginStep = beginStep;
    this.endStep = endStep;
    this.frequency = frequency;
  }

  call(step: number): [boolean, number] {
    return [PruningSchedule.shouldPruneInStep(step, this.beginStep, this.endStep, this.frequency),
      Math.fround(this.targetSparsity)];
  }

  getConfig(): serialization.ConfigDict {
    return {targetSparsity: this.targetSparsity, beginStep: this.beginStep, endStep: this.endStep,
      frequency: this.frequency};
  }
}
serialization.registerClass(ConstantSparsity);

/** Options of `PolynomialDecay` (tfmot's arguments in camelCase). */
export interface PolynomialDecayArgs {
  /** Sparsity at `beginStep`, in [0, 1). */
  initialSparsity: number;
  /** Sparsity from `endStep` on, in [0, 1). */
  finalSparsity: number;
  /** First step at which to prune. */
  beginStep: number;
  /** Step at which `finalSparsity` is reached (>= `beginStep`; -1 is not allowed). */
  endStep: number;
  /** Exponent of the decay, a finite number >= 0 (default 3). */
  power?: number;
  /** Prune every `frequency` steps (default 100). */
  frequency?: number;
}

const POLYNOMIAL_DECAY_OPTIONS =
    ['initialSparsity', 'finalSparsity', 'beginStep', 'endStep', 'power', 'frequency'] as const;

/**
 * Sparsity rising from `initialSparsity` to `finalSparsity` along a polynomial (Zhu & Gupta, 2017):
 * `p = clip((step - beginStep) / (endStep - beginStep), 0, 1)`,
 * `sparsity = finalSparsity + (initialSparsity - finalSparsity) * (1 - p)^power`,
 * evaluated in float32 in TensorFlow's order, so values equal tfmot's bit for bit. Masks update every
 * `frequency` steps from `beginStep` to `endStep`.
 * ```ts
 * const schedule = new PolynomialDecay({initialSparsity: 0.2, finalSparsity: 0.8, beginStep: 100,
 *     endStep: 110, frequency: 2});
 * schedule.call(105);  // [false, 0.725]
 * ```
 * Porting Note: with `beginStep == endStep`, tfmot computes `p = 0 / 0` (NaN sparsity) at that
 * step; we define `p = 1` there, so the sparsity is `finalSparsity`. We also reject a negative or
 * non-finite `power`, which tfmot accepts (it would give an infinite or NaN sparsity).
 * @throws Error with tfmot's messages, e.g. `'end_step cannot be -1.'`,
 *     `'final_sparsity must be in range [0,1)'`.
 */
export class PolynomialDecay extends PruningSchedule {
  /** @nocollapse */
  static className = 'PolynomialDecay';
  readonly initialSparsity: number;
  readonly finalSparsity: number;
  readonly power: number;
  readonly beginStep: number;
  readonly endStep: number;
  readonly frequency: number;

  constructor(args: PolynomialDecayArgs) {
    super();
    checkOptions(args, POLYNOMIAL_DECAY_OPTIONS, 'PolynomialDecay', true);
    const {initialSparsity, finalSparsity, beginStep, endStep, power = 3, frequency = 100} = args;
    PruningSchedule.validateStep(beginStep, endStep, frequency, false);
    PruningSchedule.validateSparsity(initialSparsity, 'initial_sparsity');
    PruningSchedule.validateSparsity(finalSparsity, 'final_sparsity');
    if (typeof power !== 'number' || !Number.isFinite(power) || power < 0) {
      throw new Error(`power must be a finite number >= 0, but got ${describeValue(power)}`);
    }
    this.initialSparsity = initialSparsity;
    this.finalSparsity = finalSparsity;
    this.power = power;
    this.beginStep = beginStep;
    this.endStep = endStep;
    this.frequency = frequency;
  }

  call(step: number): [boolean, number] {
    const shouldPrune = PruningSchedule.shouldPruneInStep(step, this.beginStep, this.endStep, this.frequency);
    const f = Math.fround;
    // tfmot: p = min(1, max(0, float32(step - begin) / float32(end - begin))), all float32.
    const p = this.endStep === this.beginStep ?
        (step < this.beginStep ? 0 : 1) :
        Math.min(1, Math.max(0, f(f(step - this.beginStep) / f(this.endStep - this.beginStep))));
    // tfmot: (initial - final) is a Python double, converted to float32 as an op argument; pow is
    // float32 pow; the product and the sum are float32 ops.
    const decay = f(Math.pow(f(1 - p), f(this.power)));
    const sparsity = f(f(f(this.initialSparsity - this.finalSparsity) * decay) + f(this.finalSparsity));
    return [shouldPrune, sparsity];
  }

  getConfig(): serialization.ConfigDict {
    // tfmot's key order.
    return {initialSparsity: this.initialSparsity, finalSparsity: this.finalSparsity, power: this.power,
      beginStep: this.beginStep, endStep: this.endStep, frequency: this.frequency};
  }
}
serialization.registerClass(PolynomialDecay);

const BUILT_IN_SCHEDULES: Record<string, [serialization.SerializableConstructor<PruningSchedule>,
    serialization.FromConfigMethod<PruningSchedule>]> = {
  ConstantSparsity: [ConstantSparsity, ConstantSparsity.fromConfig],
  PolynomialDecay: [PolynomialDecay, PolynomialDecay.fromConfig],
};

/** The `{className, config}` form of a schedule, for a layer's config (tfmot's `serialize_keras_object`). */
export function serializeSchedule(schedule: PruningSchedule): SerializedSchedule {
  if (!(schedule instanceof PruningSchedule)) {
    throw new Error(`serializeSchedule expects a PruningSchedule, but got ${describeValue(schedule)}`);
  }
  return {className: schedule.getClassName(), config: schedule.getConfig()};
}

/**
 * Rebuilds a schedule from `{className, config}` (camelCase, as tfjs loads it) or tfmot's pythonic
 * `{class_name, config}` with snake_case keys. The class is looked up among the classes registered
 * with `tf.serialization.registerClass`, so custom schedules load once registered.
 * @throws Error naming the unknown class and the known schedules, or if the class is not a schedule.
 */
export function deserializeSchedule(serialized: SerializedSchedule | {class_name: string, config: object}):
    PruningSchedule {
  const s = serialized as {className?: unknown, class_name?: unknown, config?: unknown};
  const rawName = s == null ? undefined : s.className ?? s.class_name;
  if (typeof rawName !== 'string' || s.config == null || typeof s.config !== 'object' ||
      Array.isArray(s.config)) {
    throw new Error('deserializeSchedule expects {className, config} (or {class_name, config}), but got ' +
        describeValue(serialized));
  }
  // Names registered under a package ('Custom>MySchedule') are looked up by their class name.
  const className = rawName.slice(rawName.lastIndexOf('>') + 1);
  // As in tfmot (custom_objects of the wrapper's from_config), the built-in schedules resolve to this
  // module's classes; others come from the tfjs class registry.
  const entry = BUILT_IN_SCHEDULES[className] ?? serialization.SerializationMap.getMap().classNameMap[className];
  if (entry == null) {
    throw new Error(`Unknown pruning schedule class '${className}'. Known schedules: ` +
        `${knownScheduleNames().join(', ')}. A custom schedule must subclass PruningSchedule, define ` +
        `'static className' and be registered with tf.serialization.registerClass before it is loaded.`);
  }
  const [cls, fromConfig] = entry;
  if (!(cls.prototype instanceof PruningSchedule)) {
    throw new Error(`Class '${className}' is registered but is not a PruningSchedule. Known schedules: ` +
        knownScheduleNames().join(', '));
  }
  const config: serialization.ConfigDict = {};
  for (const [key, value] of Object.entries(s.config as serialization.ConfigDict)) {
    config[key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = value;
  }
  return fromConfig(cls, config) as PruningSchedule;
}

function knownScheduleNames(): string[] {
  const map = serialization.SerializationMap.getMap().classNameMap;
  const registered = Object.keys(map).filter(name => map[name][0].prototype instanceof PruningSchedule);
  return [...new Set([...Object.keys(BUILT_IN_SCHEDULES), ...registered])].sort();
}
