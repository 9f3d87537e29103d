/**
 * The `PruneLowMagnitude` layer: tfmot's `pruning_wrapper.py`. It wraps a layer, owns a mask and a
 * threshold per prunable weight and one `pruning_step`, and in every training call advances the
 * step, maybe recomputes the masks, masks the weights and runs the inner layer.
 */
import {initializers, layers, LayerVariable} from '@tensorflow/tfjs-layers';
import {deserializeLayer} from '../model/clone';
import {scalar, serialization, Tensor} from '@tensorflow/tfjs-core';
import {BlockPoolingType, GlobalPruningGroup, Pruning, VALID_BLOCK_POOLING_TYPES} from './pruning';
import {ChannelPruning, channelPrunedWeights, ChannelScore, normaliseChannelScore, PruningStructure,
  VALID_CHANNEL_SCORES, VALID_PRUNING_STRUCTURES} from './channels';
import {checkPrunable, getPrunableWeights} from './registry';
import {ConstantSparsity, deserializeSchedule, PruningSchedule, serializeSchedule, SerializedSchedule} from './schedules';
import {fastDenseCall} from '../training/fast_dense';
import {booleanOption, checkChoice, describeValue, positiveIntPair} from '../util/validate';
import {acceptWrappedWeightNames} from './weight_names';

type Layer = layers.Layer;
type LayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]>;
type Kwargs = Parameters<Layer['call']>[1];
type Shape = Parameters<Layer['build']>[0];

/**
 * tfmot's `_PRUNE_CALLBACK_ERROR_MSG`, thrown by a training call of a wrapper whose step was never
 * set by `UpdatePruningStep`.
 */
export const PRUNE_CALLBACK_ERROR_MSG = 'Prune() wrapper requires the UpdatePruningStep callback to be ' +
    'provided during training. Please add it as a callback to your model.fit call.';

/** Options of `PruneLowMagnitude` (tfmot's constructor arguments in camelCase). */
export interface PruneLowMagnitudeArgs extends LayerArgs {
  /** The layer to prune: a supported built-in layer or a `PrunableLayer`. */
  layer: Layer;
  /** When and how much to prune; default `ConstantSparsity({targetSparsity: 0.5, beginStep: 0})`. */
  pruningSchedule?: PruningSchedule;
  /** `[height, width]` of the blocks pruned together (rank-2 weights only); default `[1, 1]`. */
  blockSize?: [number, number];
  /** How a block's magnitudes are pooled: 'AVG' (default) or 'MAX'. */
  blockPoolingType?: BlockPoolingType;
  /** `[m, n]`: m zeros in every n consecutive weights along input channels, fixed at step 1. */
  sparsityMByN?: [number, number]|null;
  /**
   * Prune with one threshold shared by all wrappers of the model that set this option (linked by
   * `UpdatePruningStep` at train begin, or by `pruneLowMagnitude`). tfmot has no such option.
   */
  globalPruning?: boolean;
  /**
   * What is pruned: 'weights' (default; single weights or blocks) or 'channels' (whole output
   * channels, tied across the model so `shrinkModel` can remove them). tfmot has no such option.
   */
  structure?: PruningStructure;
  /** How channels are scored with `structure: 'channels'`: 'l1' (default), 'l2' or 'batchNormScale'. */
  channelScore?: ChannelScore;
}

/** Accepts 'AVG'/'MAX' also as tfjs's saving mangles them ('avg', 'a_v_g', 'aVG'). */
function normalisePoolingType(value: unknown): unknown {
  return typeof value === 'string' ? value.replace(/_/g, '').toUpperCase() : value;
}

/**
 * tfmot's `PruneLowMagnitude` for tfjs-layers. Made by `pruneLowMagnitude`; registered for
 * serialization at import. Its config has tfmot's JSON shape (`layer`, `pruning_schedule`,
 * `block_size`, `block_pooling_type`) plus `sparsity_m_by_n`, which tfmot drops.
 *
 * Porting Notes: tfjs-layers exports no `Wrapper`, so this subclasses `Layer` and delegates
 * `trainable`, the trainable weights, `getWeights` and `setWeights` to the inner layer as Keras's
 * `Wrapper` does. The inner layer's weights are named as tfmot names them (see `build`). The
 * step is an int32 variable (tfmot: int64; the tfjs converter stores it
 * as int32 too).
 *
 * With `structure: 'channels'` (our extension; tfmot has none) the masks cover whole channels of the
 * weights `channelPrunedWeights` lists (a kernel's output slices and the bias, a BatchNormalization's
 * gamma and beta; the second mask is named `bias_mask`, `beta_mask`), decided for all tied layers
 * together by the group `linkChannelPruning` gives the wrapper; the config adds `structure` and
 * `channel_score`.
 */
export class PruneLowMagnitude extends layers.Layer {
  /** @nocollapse */
  static className = 'PruneLowMagnitude';
  readonly layer: Layer;
  readonly pruningSchedule: PruningSchedule;
  readonly blockSize: [number, number];
  readonly blockPoolingType: BlockPoolingType;
  readonly sparsityMByN: [number, number]|null;
  readonly globalPruning: boolean;
  readonly structure: PruningStructure;
  readonly channelScore: ChannelScore;
  /** The mask math; set in `build`. */
  pruningObj: Pruning|null = null;
  /** The shared-threshold group when `globalPruning` is set; linked by `linkGlobalPruning`. */
  globalGroup: GlobalPruningGroup|null = null;
  private pruningStepVar: LayerVariable|null = null;
  private masks: LayerVariable[] = [];
  private thresholds: LayerVariable[] = [];
  private stepCache: {dataId: object, value: number}|null = null;

  /**
   * @throws Error with tfmot's messages for a non-layer (`Please initialize \`Prune\` layer with a
   *     \`Layer\` instance. You passed: ...`) or a bad pooling type (`Unsupported pooling type 'MIN'.
   *     Should be 'AVG' or 'MAX'.`), the registry's error for an unsupported layer, and messages naming
   *     `blockSize`, `sparsityMByN`, `pruningSchedule` for bad values.
   */
  constructor(args: PruneLowMagnitudeArgs) {
    if (args == null || typeof args !== 'object') {
      throw new Error(`PruneLowMagnitude expects an options object {layer, pruningSchedule, blockSize, ` +
          `blockPoolingType, sparsityMByN}, but got ${describeValue(args)}`);
    }
    const inner = args.layer;
    if (!(inner instanceof layers.Layer)) {
      throw new Error('Please initialize `Prune` layer with a `Layer` instance. You passed: ' + describeValue(inner));
    }
    const innerShape = (inner as unknown as {batchInputShape?: LayerArgs['batchInputShape']}).batchInputShape;
    const batchInputShape = args.batchInputShape ?? (args.inputShape == null ? innerShape : undefined);
    super({
      ...args,
      name: `prune_low_magnitude_${inner.name}`,
      batchInputShape,
      dtype: args.dtype ?? (batchInputShape != null ? inner.dtype : undefined),
    });
    this.layer = inner;
    const schedule = args.pruningSchedule ?? new ConstantSparsity({targetSparsity: 0.5, beginStep: 0});
    if (!(schedule instanceof PruningSchedule)) {
      throw new Error(`pruningSchedule must be a PruningSchedule (e.g. ConstantSparsity, PolynomialDecay), ` +
          `but got ${describeValue(schedule)}`);
    }
    this.pruningSchedule = schedule;
    const blockSize = positiveIntPair(args.blockSize ?? [1, 1], 'blockSize');
    this.blockSize = blockSize;
    const pooling = args.blockPoolingType ?? 'AVG';
    if (!VALID_BLOCK_POOLING_TYPES.includes(pooling)) {
      throw new Error(`Unsupported pooling type '${String(pooling)}'. Should be 'AVG' or 'MAX'.`);
    }
    this.blockPoolingType = pooling;
    if (args.sparsityMByN != null) {
      const [m, n] = positiveIntPair(args.sparsityMByN, 'sparsityMByN', undefined, '[m, n] (m zeros in every n weights)');
      // tfmot's message (typo included), which tfmot raises at the first mask update.
      if (m >= n) throw new Error(`Argument m_by_n received (${m}, ${n}), m be must smaller than n.`);
      this.sparsityMByN = [m, n];
    } else {
      this.sparsityMByN = null;
    }
    this.globalPruning = booleanOption(args.globalPruning, 'globalPruning', 'PruneLowMagnitude') ?? false;
    if (this.globalPruning && (this.sparsityMByN != null || blockSize[0] !== 1 || blockSize[1] !== 1)) {
      throw new Error('globalPruning supports unstructured pruning only: use blockSize [1, 1] and no sparsityMByN');
    }
    this.structure = checkChoice(args.structure ?? 'weights', VALID_PRUNING_STRUCTURES, 'structure', 'PruneLowMagnitude');
    this.channelScore = checkChoice(args.channelScore ?? 'l1', VALID_CHANNEL_SCORES, 'channelScore', 'PruneLowMagnitude');
    if (this.structure === 'channels' && (this.globalPruning || this.sparsityMByN != null || blockSize[0] * blockSize[1] > 1)) {
      throw new Error("structure 'channels' prunes whole channels: it takes no blockSize, sparsityMByN or globalPruning");
    }
    checkPrunable(inner);
    this.supportsMasking = inner.supportsMasking;
  }

  override get trainable(): boolean {
    return this.layer != null ? this.layer.trainable : true;
  }

  override set trainable(value: boolean) {
    if (this.layer != null) this.layer.trainable = value;
  }

  override get trainableWeights(): LayerVariable[] {
    return this.layer.trainableWeights;
  }

  override set trainableWeights(weights: LayerVariable[]) {
    this.layer.trainableWeights = weights;
  }

  /** The inner layer's non-trainable weights, then the masks, thresholds and `pruning_step`. */
  override get nonTrainableWeights(): LayerVariable[] {
    return this.layer.nonTrainableWeights.concat(super.nonTrainableWeights);
  }

  override set nonTrainableWeights(weights: LayerVariable[]) {
    super.nonTrainableWeights = weights;
  }

  /** The inner layer's weights only, as in tfmot (a model's weights include the masks and steps). */
  override getWeights(trainableOnly = false): Tensor[] {
    return this.layer.getWeights(trainableOnly);
  }

  override setWeights(weights: Tensor[]): void {
    this.layer.setWeights(weights);
  }

  /** The masks, one per prunable weight (after build). */
  get maskWeights(): readonly LayerVariable[] {
    return this.masks;
  }

  /** The thresholds, one per prunable weight (after build). */
  get thresholdWeights(): readonly LayerVariable[] {
    return this.thresholds;
  }

  /** The int32 scalar `pruning_step` variable (after build). */
  get pruningStepWeight(): LayerVariable {
    if (this.pruningStepVar == null) throw new Error(`Layer ${this.name} is not built yet`);
    return this.pruningStepVar;
  }

  /** The pruning step: -1 before training, 0 after `UpdatePruningStep` set it, then +1 per training call. */
  get pruningStep(): number {
    const v = this.pruningStepWeight.read();
    if (this.stepCache?.dataId !== v.dataId) this.stepCache = {dataId: v.dataId, value: v.dataSync()[0]};
    return this.stepCache.value;
  }

  set pruningStep(step: number) {
    if (!Number.isInteger(step) || step < -1) {
      throw new Error(`The pruning step of ${this.name} must be an integer >= -1, but got ${step}`);
    }
    const t = scalar(step, 'int32');
    try {
      this.pruningStepWeight.write(t);
    } finally {
      t.dispose();
    }
    this.stepCache = {dataId: this.pruningStepWeight.read().dataId, value: step};
  }

  /**
   * Builds the inner layer (unless built), then adds a mask and a threshold per prunable weight and
   * the step. As in tfmot, the weights of an inner layer built here are named in this wrapper's
   * scope (`prune_low_magnitude_dense/kernel`); a layer built before wrapping keeps its names
   * (`dense/kernel`). Loading accepts either (`acceptWrappedWeightNames`).
   */
  override build(inputShape: Shape): void {
    const buildsInner = !this.layer.built;
    if (buildsInner) {
      this.layer.build(inputShape);
      this.layer.built = true;
    }
    const channels = this.structure === 'channels';
    const weights = channels ? channelPrunedWeights(this.layer).map(w => w.variable) : getPrunableWeights(this.layer);
    const unsupported = this.sparsityMByN == null ? undefined : weights.find(w => w.shape.length !== 2 && w.shape.length !== 4);
    if (unsupported) {
      // Refused before the masks are made; the inner weights this build made are freed, so a failed
      // build (or load) leaks nothing.
      if (buildsInner) for (const w of this.layer.weights) w.dispose();
      throw new Error(`weight tensor with shape: [${unsupported.shape}] is not supported. sparsityMByN needs rank-2 ` +
          `or rank-4 weights (layer ${this.layer.name}, weight ${this.layer.name}/${unsupported.originalName.split('/').pop()}).`);
    }
    // Keras numbers repeated names: mask, mask_1, ... (tfjs rejects duplicates within a layer).
    // Channel masks (ours) are named by weight instead (mask, bias_mask): tfjs makes a second
    // wrapper's 'mask' unique as 'mask_1', which would collide with a first wrapper's 'mask_1'.
    const name = (base: string, w: LayerVariable, i: number) => i === 0 ? base :
        channels ? `${w.originalName.slice(w.originalName.lastIndexOf('/') + 1)}_${base}` : `${base}_${i}`;
    this.masks = weights.map((w, i) =>
      this.addWeight(name('mask', w, i), w.shape, w.dtype, initializers.ones(), undefined, false));
    this.thresholds = weights.map((w, i) =>
      this.addWeight(name('threshold', w, i), [], w.dtype, initializers.zeros(), undefined, false));
    // Created as 0 and set to -1: tfjs's constant initializer makes float32 values, whose int32 cast
    // inside tf.variable is never disposed (one leaked tensor per layer).
    this.pruningStepVar = this.addWeight('pruning_step', [], 'int32', initializers.zeros(), undefined, false);
    this.pruningStep = -1;
    this.pruningObj = channels ?
        new ChannelPruning({layer: this.layer, masks: this.masks, thresholds: this.thresholds,
                            pruningSchedule: this.pruningSchedule, channelScore: this.channelScore}) :
        new Pruning({
          pruningVars: weights.map((weight, i) => ({weight, mask: this.masks[i], threshold: this.thresholds[i]})),
          pruningSchedule: this.pruningSchedule,
          blockSize: this.blockSize,
          blockPoolingType: this.blockPoolingType,
          sparsityMByN: this.sparsityMByN,
        });
    this.built = true;
  }

  /**
   * tfmot's order. Training (`kwargs.training === true`): step + 1, maybe new masks, mask the
   * weights, run the inner layer. Inference: mask the weights (a no-op when already masked), run.
   * @throws Error `PRUNE_CALLBACK_ERROR_MSG` in training when `UpdatePruningStep` never set the step.
   */
  override call(inputs: Tensor|Tensor[], kwargs: Kwargs): Tensor|Tensor[] {
    const pruning = this.pruningObj;
    if (pruning == null) throw new Error(`Layer ${this.name} is called before it is built`);
    if (kwargs?.training === true) {
      const step = this.pruningStep;
      if (step < 0) throw new Error(PRUNE_CALLBACK_ERROR_MSG);
      this.pruningStep = step + 1;
      if (this.globalPruning) {
        if (this.globalGroup == null) {
          throw new Error(`Layer ${this.name} uses globalPruning but is not linked to its model's other ` +
              'globally pruned layers: UpdatePruningStep links them at train begin (call its onTrainBegin ' +
              'in a custom training loop).');
        }
        this.globalGroup.conditionalMaskUpdate(step + 1);
      } else {
        pruning.conditionalMaskUpdate(step + 1);
      }
    }
    pruning.weightMaskOp();
    // Training runs a pruned Dense through our SIMD kernels (sparse ones once the mask is sparse):
    // tfjs-wasm's backward matmuls are scalar loops. Inference keeps the inner layer's own path, so
    // a wrapper predicts exactly what its stripped layer predicts.
    if (kwargs?.training === true) {
      const fast = fastDenseCall(this.layer, inputs, this.maskWeights[0]?.read() ?? null);
      if (fast != null) return fast;
    }
    return this.layer.call(inputs, kwargs);
  }

  override computeOutputShape(inputShape: Shape): ReturnType<Layer['computeOutputShape']> {
    return this.layer.computeOutputShape(inputShape);
  }

  override computeMask(inputs: Tensor|Tensor[], mask?: Tensor|Tensor[]): Tensor|Tensor[] {
    return this.layer.computeMask(inputs, mask);
  }

  override setFastWeightInitDuringBuild(value: boolean): void {
    super.setFastWeightInitDuringBuild(value);
    this.layer?.setFastWeightInitDuringBuild(value);
  }

  override getConfig(): serialization.ConfigDict {
    const base = super.getConfig();
    const config: serialization.ConfigDict = {
      ...base,
      dtype: base.dtype ?? this.layer.dtype ?? 'float32',  // Keras writes it for every layer
      layer: {className: this.layer.getClassName(), config: this.layer.getConfig()},
      pruningSchedule: serializeSchedule(this.pruningSchedule) as unknown as serialization.ConfigDict,
      blockSize: [...this.blockSize],
      blockPoolingType: this.blockPoolingType,
      sparsityMByN: this.sparsityMByN == null ? null : [...this.sparsityMByN],
    };
    if (this.globalPruning) config.globalPruning = true;
    if (this.structure === 'channels') Object.assign(config, {structure: this.structure, channelScore: this.channelScore});
    return config;
  }

  /**
   * Rebuilds the wrapper from its config (ours or a converted tfmot model's): deserializes the inner
   * layer and the schedule, and restores 'AVG'/'MAX' from tfjs's snake_cased string values.
   */
  static override fromConfig<T extends serialization.Serializable>(
      cls: serialization.SerializableConstructor<T>, config: serialization.ConfigDict): T {
    const {layer, pruningSchedule, blockPoolingType, channelScore, ...rest} = config;
    const args = {
      ...rest,
      channelScore: normaliseChannelScore(channelScore ?? undefined),
      layer: deserializeLayer(layer),
      pruningSchedule: deserializeSchedule(pruningSchedule as unknown as SerializedSchedule),
      blockPoolingType: normalisePoolingType(blockPoolingType ?? 'AVG'),
    };
    return new cls(args);
  }
}
serialization.registerClass(PruneLowMagnitude);
acceptWrappedWeightNames();
