/**
 * `SparseDense`: a Dense layer whose kernel is block-sparse, and `SparseConv2D`, its convolution
 * form. It saves its kernel compactly (`storage.ts`: block positions plus nonzero
 * values, f32 or int8 with scales) as ordinary tfjs weights, checks every weight as it is written (so a corrupt artifact is refused by
 * `tf.loadLayersModel` itself, naming the layer), and runs `blockSparseMatMul` on the kernel layout
 * decoded from those weights on first use. Made by `toSparse`; registered for serialization.
 */
import {cast, reshape, serialization, stridedSlice, Tensor, Tensor1D, Tensor4D, tidy, transpose} from '@tensorflow/tfjs-core';
import {initializers, layers, LayerVariable} from '@tensorflow/tfjs-layers';
// The matmul kernels must be registered wherever a saved sparse model is loaded.
import '../kernels/register';
import {DEFAULT_STRIP_WIDTH} from '../kernels/dispatch';
import {MAX_HEAP_BYTES} from '../kernels/heap_limit';
import {checkChoice, isPositiveIntPair, positiveIntPair} from '../util/validate';
import {bytesOf, crc32c} from '../util/crc32c';
import {BlockSparseMatrix} from './format';
import {packKept} from './pack';
import {DenseWeight, dequantize, INT8_MAX_K, StoredDtype, VALID_STORED_DTYPES} from './quantize';
import {convOutputLength, PatchPadding, VALID_PATCH_PADDINGS} from './im2col';
import {FusedActivation, VALID_FUSED_ACTIVATIONS} from './activation';
import {blockSparseMatMul, choosePixelKernel} from './matmul';
import {channelMajorSparseMatMul} from './pixel_matmul';
import {ConvGeometry, sparseConv2dChannelsLast} from './sparse_conv';
import {checkScales, decodePositions, decodeStored, MAX_RICE_PARAMETER, PositionCoding, StorageError, StorageLayout, storedBytes,
  VALID_POSITION_CODINGS, wordsToInt8} from './storage';

type Layer = layers.Layer;
type LayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]>;
type Kwargs = Parameters<Layer['call']>[1];
type Shape = Parameters<Layer['build']>[0];

/** Constructor arguments (and config) of `SparseDense`; `toSparse` fills them from a stored weight. */
export interface SparseDenseArgs extends LayerArgs {
  /** Output width N. */
  units: number;
  /** Input width K. */
  inputDim: number;
  /** Any tfjs activation name; default 'linear'. 'relu' is fused into the matmul. */
  activation?: string;
  /** Default true. */
  useBias?: boolean;
  /** `[bh, bw]` of the stored blocks. */
  blockSize: [number, number];
  /** 'float32' or 'int8' stored values. */
  valueDtype: StoredDtype;
  /** How stored block positions are encoded. */
  positionCoding: PositionCoding;
  /** Golomb-Rice parameter of 'rice' positions (0 for 'bitmap'). */
  riceParameter: number;
  nonzeroBlocks: number;
  storedValues: number;
  positionWords: number;
  /** `[1, bw]`: the strip width of the kernel layout (see `format.ts`); default `[1, 16]`. */
  kernelBlockSize?: [number, number];
  /**
   * CRC-32C of each weight's bytes (`getConfig` records them): the first value written to each weight
   * after construction (what `tf.loadLayersModel` writes) must match, so a flipped bit is refused at
   * load. Configs saved before checksums existed have none and load with the structural checks only.
   */
  checksums?: StoredChecksums;
}

/** CRC-32C of the bytes of each of a sparse layer's weights (little-endian int32 or float32). */
export interface StoredChecksums {
  positions: number;
  values: number;
  /** int8 layers only. */
  scales?: number;
  /** Layers with a bias only. */
  bias?: number;
}

const INTEGER_FIELDS = ['units', 'inputDim', 'riceParameter', 'nonzeroBlocks', 'storedValues', 'positionWords'] as const;

/**
 * The config keys a `SparseDense` accepts: tfjs's `Layer` arguments, `customObjects` (which tfjs's
 * deserializer adds) and its own. Unknown keys are refused, so that a corrupted key (a flipped bit in
 * `checksums`) cannot turn the checks off.
 */
const SPARSE_DENSE_KEYS = ['name', 'trainable', 'dtype', 'inputShape', 'batchInputShape', 'batchSize', 'inputDType',
  'weights', 'customObjects', 'units', 'inputDim', 'activation', 'useBias', 'blockSize', 'valueDtype', 'positionCoding', 'riceParameter',
  'nonzeroBlocks', 'storedValues', 'positionWords', 'kernelBlockSize', 'checksums'];

/**
 * A Dense layer with a compactly stored block-sparse kernel, running on the block-sparse matmul
 * (whose dispatcher falls back to dense paths wherever they are faster). Inference only.
 *
 * Accuracy. float32: the Dense result up to summation order. int8: weights are quantized per
 * output channel (|Δw| <= s_w[n]/2, s_w[n] = max_k |w[k, n]| / 127; zeros stay exact) and, on the
 * sparse kernel, activations per row (|Δx| <= s_x/2, s_x = max_k |x[m, k]| / 127), products summed
 * exactly in int32, so each output is within
 *   s_w[n]/2 · Σ|x_k| + s_x/2 · Σ|w_kn| + nnz_n · s_x · s_w[n] / 4   (sums over stored w_kn)
 * of the float32 result, plus float32 rounding; slope-1 activations (relu, tanh) keep the bound.
 */
export class SparseDense extends layers.Layer {
  /** @nocollapse */
  static className = 'SparseDense';
  readonly units: number;
  readonly inputDim: number;
  readonly activation: string;
  readonly useBias: boolean;
  readonly layout: StorageLayout;
  readonly kernelBlockSize: [number, number];
  private readonly activationLayer: Layer|null;
  private positions: LayerVariable|null = null;
  private values: LayerVariable|null = null;
  private scales: LayerVariable|null = null;
  private bias: LayerVariable|null = null;
  private packed: BlockSparseMatrix|null = null;
  /** The checksums the next write of each weight must match (from the config), removed once it did. */
  private readonly pendingChecksums: Partial<StoredChecksums>;
  private weightsDisposed = false;
  /** The config keys this class accepts. */
  protected static readonly configKeys: readonly string[] = SPARSE_DENSE_KEYS;

  /** @throws Error naming the layer and the field for a bad or unknown config value. */
  constructor(args: SparseDenseArgs) {
    super(args);
    const fail = (what: string): never => {
      throw this.configError(what);
    };
    const known = (new.target as typeof SparseDense).configKeys;
    for (const key of Object.keys(args)) {
      if (!known.includes(key)) fail(`unknown field '${key}'; the fields are ${known.join(', ')}`);
    }
    for (const field of INTEGER_FIELDS) {
      const v = args[field];
      const min = field === 'units' || field === 'inputDim' ? 1 : 0;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(`${field} must be an integer >= ${min}, but got ${String(v)}`);
    }
    const pair = (v: unknown, field: string, maxH: number, maxW: number): [number, number] => {
      if (isPositiveIntPair(v) && v[0] <= maxH && v[1] <= maxW) return [v[0], v[1]];
      return fail(`${field} must be [height, width] of positive integers fitting in [${maxH}, ${maxW}], but got ${JSON.stringify(v)}`);
    };
    const [K, N] = [args.inputDim, args.units];
    const blockSize = pair(args.blockSize, 'blockSize', K, N);
    this.kernelBlockSize = pair(args.kernelBlockSize ?? [1, Math.min(DEFAULT_STRIP_WIDTH, N)], 'kernelBlockSize', 1, N);
    checkChoice(args.valueDtype, VALID_STORED_DTYPES, this.configField('valueDtype'));
    checkChoice(args.positionCoding, VALID_POSITION_CODINGS, this.configField('positionCoding'));
    if (args.valueDtype === 'int8' && K > INT8_MAX_K) fail(`int8 kernels need inputDim <= ${INT8_MAX_K}, but got ${K}`);
    const totalBlocks = Math.ceil(K / blockSize[0]) * Math.ceil(N / blockSize[1]);
    if (args.nonzeroBlocks > totalBlocks) fail(`nonzeroBlocks ${args.nonzeroBlocks} exceeds the ${totalBlocks} blocks`);
    if (args.storedValues > K * N) fail(`storedValues ${args.storedValues} exceeds the ${K * N} kernel entries`);
    if (args.positionCoding === 'bitmap' && args.positionWords !== Math.ceil(totalBlocks / 32)) {
      fail(`a bitmap of ${totalBlocks} blocks has ${Math.ceil(totalBlocks / 32)} words, but positionWords is ${args.positionWords}`);
    }
    if (args.riceParameter > MAX_RICE_PARAMETER) fail(`riceParameter must be at most ${MAX_RICE_PARAMETER}, but got ${args.riceParameter}`);
    // Sizes bound by each other before build allocates anything: each stored block holds 1 to bh·bw
    // entries and each Rice code 1 + riceParameter bits, and no coding is longer than the bitmap.
    const blockArea = blockSize[0] * blockSize[1];
    if (args.storedValues < args.nonzeroBlocks || args.storedValues > args.nonzeroBlocks * blockArea) {
      fail(`storedValues ${args.storedValues} cannot fill ${args.nonzeroBlocks} blocks of ${blockSize.join('x')} ` +
          `(between ${args.nonzeroBlocks} and ${args.nonzeroBlocks * blockArea})`);
    }
    const riceWords = Math.ceil(args.nonzeroBlocks * (1 + args.riceParameter) / 32);
    if (args.positionCoding === 'rice' && (args.positionWords < riceWords || args.positionWords > Math.ceil(totalBlocks / 32))) {
      fail(`positionWords ${args.positionWords} cannot hold the Rice codes of ${args.nonzeroBlocks} blocks (between ` +
          `${riceWords} and the bitmap's ${Math.ceil(totalBlocks / 32)} words)`);
    }
    const useBias = args.useBias ?? true;
    const layoutBytes = storedBytes({shape: [K, N], blockSize, dtype: args.valueDtype, coding: args.positionCoding,
      riceParameter: args.riceParameter, nonzeroBlocks: args.nonzeroBlocks, storedValues: args.storedValues,
      positionWords: args.positionWords});
    const heapBytes = layoutBytes + (useBias ? 4 * N : 0) + 4 * K * N;
    if (heapBytes > MAX_HEAP_BYTES) {
      fail(`a [${K}, ${N}] kernel needs ${heapBytes} bytes on the heap (its weights and the decoded kernel), ` +
          `more than a wasm32 heap holds (${MAX_HEAP_BYTES})`);
    }
    this.pendingChecksums = this.checkChecksums(args.checksums, args.valueDtype, useBias, fail);
    this.units = N;
    this.inputDim = K;
    this.useBias = useBias;
    this.activation = args.activation ?? 'linear';
    // Built-in activations other than the fused relu run as tfjs's own Activation layer would.
    let activationLayer: Layer|null = null;
    if (this.activation !== 'linear' && this.activation !== 'relu') {
      try {
        activationLayer = layers.activation({activation: this.activation as 'linear'});
      } catch (e) {
        fail(`activation: ${(e as Error).message}`);
      }
    }
    this.activationLayer = activationLayer;
    this.layout = {shape: [K, N], blockSize, dtype: args.valueDtype, coding: args.positionCoding,
      riceParameter: args.riceParameter, nonzeroBlocks: args.nonzeroBlocks, storedValues: args.storedValues,
      positionWords: args.positionWords};
  }

  /** The names of this layer's weights, in order. */
  private weightNames(dtype: StoredDtype, useBias: boolean): Array<keyof StoredChecksums> {
    return ['positions', 'values', ...(dtype === 'int8' ? ['scales' as const] : []), ...(useBias ? ['bias' as const] : [])];
  }

  /** A copy of `checksums` after checking it names exactly this layer's weights, each with a uint32. */
  private checkChecksums(checksums: unknown, dtype: StoredDtype, useBias: boolean,
                         fail: (what: string) => never): Partial<StoredChecksums> {
    if (checksums === undefined) return {};
    const names = this.weightNames(dtype, useBias);
    const c = checksums as Record<string, unknown>;
    if (c == null || typeof c !== 'object' || Object.keys(c).sort().join() !== [...names].sort().join() ||
        !names.every(n => Number.isInteger(c[n]) && (c[n] as number) >= 0 && (c[n] as number) <= 0xffffffff)) {
      fail(`checksums must be {${names.join(', ')}} of CRC-32C values (uint32), but got ${JSON.stringify(checksums)}`);
    }
    return {...(c as Partial<StoredChecksums>)};
  }

  /** An error naming this layer. */
  protected error(what: string): Error {
    return new Error(`${this.getClassName()} '${this.name}': ${what}`);
  }

  /** How messages name a field of this layer's config (the subject of a config check). */
  protected configField(name: string): string {
    return `${this.getClassName()} '${this.name}': invalid config: ${name}`;
  }

  /** An error naming this layer and a bad config value. */
  protected configError(what: string): Error {
    return new Error(this.configField(what));
  }

  /**
   * Adds a non-trainable weight whose writes (`setWeights`, `loadWeights` during
   * `tf.loadLayersModel`) are checked first, so corrupt data is refused where it enters: its dtype and
   * shape, its CRC-32C against the config's on the first write, then its structure.
   */
  private addStoredWeight(name: keyof StoredChecksums, shape: number[], dtype: 'float32'|'int32',
                          check: (value: Tensor) => void): LayerVariable {
    const variable = this.addWeight(name, shape, dtype, initializers.zeros(), undefined, false);
    const write = variable.write.bind(variable);
    variable.write = (value: Tensor) => {
      if (value.dtype !== dtype || value.shape.length !== shape.length || value.shape.some((d, i) => d !== shape[i])) {
        throw this.error(`weight '${name}' must be ${dtype} [${shape}] as the layer config says, but got ` +
            `${value.dtype} [${value.shape}]: the artifact is corrupt or does not match its model.json`);
      }
      const expected = this.pendingChecksums[name];
      if (expected !== undefined) {
        const actual = crc32c(bytesOf(value.dataSync()));
        if (actual !== expected) {
          throw this.error(`weight '${name}' fails its CRC-32C check (the config records ${expected}, its bytes ` +
              `give ${actual}): the artifact is corrupt or does not match its model.json`);
        }
      }
      try {
        check(value);
      } catch (e) {
        if (e instanceof StorageError) throw this.error(`weight '${name}' is corrupt: ${e.what}`);
        throw e;
      }
      delete this.pendingChecksums[name];
      this.releasePacked();
      return write(value);
    };
    return variable;
  }

  /** CRC-32C of the current weights (after build), else the config's. */
  private checksums(): Partial<StoredChecksums> {
    if (!this.built || this.weightsDisposed) return {...this.pendingChecksums};
    const vars: Array<[keyof StoredChecksums, LayerVariable|null]> =
        [['positions', this.positions], ['values', this.values], ['scales', this.scales], ['bias', this.bias]];
    const out: Partial<StoredChecksums> = {};
    for (const [name, v] of vars) if (v) out[name] = crc32c(bytesOf(v.read().dataSync()));
    return out;
  }

  override build(inputShape: Shape): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Array<number|null>;
    const last = shape[shape.length - 1];
    if (last !== this.inputDim) {
      throw this.error(`expects inputs with last dimension ${this.inputDim}, but got shape [${shape}]`);
    }
    this.addKernelWeights();
    this.inputSpec = [{minNDim: 2, axes: {[-1]: this.inputDim}}];
    this.built = true;
  }

  /** Creates the stored kernel's weights and the bias. */
  protected addKernelWeights(): void {
    const {dtype, positionWords, storedValues} = this.layout;
    this.positions = this.addStoredWeight('positions', [positionWords], 'int32',
        v => decodePositions(v.dataSync() as Int32Array, this.layout));
    if (dtype === 'int8') {
      this.values = this.addStoredWeight('values', [Math.ceil(storedValues / 4)], 'int32',
          v => wordsToInt8(v.dataSync() as Int32Array, storedValues));
      this.scales = this.addStoredWeight('scales', [this.units], 'float32', v => checkScales(v.dataSync() as Float32Array));
    } else {
      this.values = this.addStoredWeight('values', [storedValues], 'float32', () => undefined);
    }
    if (this.useBias) this.bias = this.addStoredWeight('bias', [this.units], 'float32', () => undefined);
  }

  override computeOutputShape(inputShape: Shape): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Array<number|null>;
    return [...shape.slice(0, -1), this.units];
  }

  /**
   * The kernel in the kernel layout, decoded from the stored weights on first use after they were
   * written and kept (outside any tidy scope) until they change or the layer is disposed. int8
   * values go to the kernel layout as stored, with their scales.
   */
  packedKernel(): BlockSparseMatrix {
    this.packed ??= packKept(this.storedKernel(), this.layout.shape, this.kernelBlockSize);
    return this.packed;
  }

  /**
   * The kernel as a dense `[K, N]` row-major array (int8 values dequantized, absent blocks 0),
   * decoded from the stored weights: what the layer multiplies by.
   * @throws Error naming the layer when it is not built or its stored weights do not decode.
   */
  decodedKernel(): Float32Array {
    return dequantize(this.storedKernel());
  }

  /** The kernel as stored (int8 values not dequantized), decoded from the stored weights. */
  private storedKernel(): DenseWeight {
    if (!this.positions || !this.values) throw this.error('is not built yet');
    try {
      return decodeStored(this.layout, this.positions.read().dataSync() as Int32Array,
          this.values.read().dataSync() as Float32Array|Int32Array, this.scales?.read().dataSync() as Float32Array|undefined);
    } catch (e) {
      if (e instanceof StorageError) throw this.error(`the stored kernel does not decode (were its weights set?): ${e.what}`);
      throw e;
    }
  }

  private releasePacked(): void {
    this.packed?.dispose();
    this.packed = null;
  }

  override call(inputs: Tensor|Tensor[], kwargs: Kwargs): Tensor {
    return tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return this.applyKernel(this.singleInput(inputs));
    });
  }

  /** The one float32 input of a call. */
  protected singleInput(inputs: Tensor|Tensor[]): Tensor {
    if (Array.isArray(inputs) && inputs.length !== 1) throw this.error(`expects 1 input, but got ${inputs.length}`);
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return x.dtype === 'float32' ? x : cast(x, 'float32');
  }

  /** The bias, or undefined without one. */
  protected biasValue(): Tensor1D|undefined {
    return this.bias ? this.bias.read() as Tensor1D : undefined;
  }

  /** The activation fused into the matmul or convolution: relu, else none. */
  protected get fusedActivation(): 'relu'|'linear' {
    return this.activation === 'relu' ? 'relu' : 'linear';
  }

  /** The activations that are not fused, applied as tfjs's own Activation layer would. */
  protected activate(y: Tensor): Tensor {
    return this.activationLayer ? this.activationLayer.apply(y) as Tensor : y;
  }

  /** activation(x · W + b) along the last axis of `x`. */
  protected applyKernel(x: Tensor): Tensor {
    return this.activate(blockSparseMatMul(x, this.packedKernel(), {bias: this.biasValue(), activation: this.fusedActivation}));
  }

  protected override disposeWeights(): number {
    this.releasePacked();
    this.weightsDisposed = true;
    return super.disposeWeights();
  }

  override getConfig(): serialization.ConfigDict {
    const {blockSize, dtype, coding, riceParameter, nonzeroBlocks, storedValues, positionWords} = this.layout;
    const checksums = this.checksums();
    return {
      units: this.units, inputDim: this.inputDim, activation: this.activation, useBias: this.useBias,
      blockSize: [...blockSize], valueDtype: dtype, positionCoding: coding, riceParameter, nonzeroBlocks,
      storedValues, positionWords, kernelBlockSize: [...this.kernelBlockSize],
      ...(Object.keys(checksums).length > 0 ? {checksums: checksums as serialization.ConfigDict} : {}),
      ...super.getConfig(),
    };
  }
}
serialization.registerClass(SparseDense);

/** Data formats of `SparseConv2D` (tfjs's names). */
export type SparseConvDataFormat = 'channelsLast'|'channelsFirst';
export const VALID_SPARSE_CONV_DATA_FORMATS: SparseConvDataFormat[] = ['channelsLast', 'channelsFirst'];

/**
 * Arguments (and config) of `SparseConv2D`: those of `SparseDense` (units = filters, inputDim =
 * kh·kw·input channels, the rows of the kernel [kh, kw, C, F] flattened) plus the convolution's.
 */
export interface SparseConv2DArgs extends SparseDenseArgs {
  /** `[kh, kw]`, default `[1, 1]`. */
  kernelSize?: [number, number];
  /** `[sh, sw]`, default `[1, 1]`. */
  strides?: [number, number];
  /** Default 'valid' (Keras's default). */
  padding?: PatchPadding;
  /** Default 'channelsLast'. */
  dataFormat?: SparseConvDataFormat;
}

/**
 * A Conv2D (dilation 1) with a compactly stored block-sparse kernel. A convolution is a matmul of
 * the input's patches by the kernel flattened to [kh·kw·C, F] (`extractPatches`; a 1x1 convolution
 * needs no patches, only striding: Elsen et al., "Fast Sparse ConvNets"), so it runs on the
 * block-sparse matmul. Inference only.
 */
export class SparseConv2D extends SparseDense {
  /** @nocollapse */
  static override className = 'SparseConv2D';
  protected static override readonly configKeys: readonly string[] =
      [...SPARSE_DENSE_KEYS, 'kernelSize', 'strides', 'padding', 'dataFormat'];
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: PatchPadding;
  readonly dataFormat: SparseConvDataFormat;

  constructor(args: SparseConv2DArgs) {
    super(args);
    this.kernelSize = positiveIntPair(args.kernelSize ?? [1, 1], this.configField('kernelSize'));
    this.strides = positiveIntPair(args.strides ?? [1, 1], this.configField('strides'));
    this.padding = checkChoice(args.padding ?? 'valid', VALID_PATCH_PADDINGS, this.configField('padding'));
    this.dataFormat = checkChoice(args.dataFormat ?? 'channelsLast', VALID_SPARSE_CONV_DATA_FORMATS, this.configField('dataFormat'));
    const area = this.kernelSize[0] * this.kernelSize[1];
    if (this.inputDim % area !== 0) {
      throw this.configError(`inputDim ${this.inputDim} must be kernelSize ${this.kernelSize.join('x')} times the input channels`);
    }
  }

  /** Input channels: the kernel's rows per patch position. */
  get inputChannels(): number {
    return this.inputDim / (this.kernelSize[0] * this.kernelSize[1]);
  }

  private get channelAxis(): number {
    return this.dataFormat === 'channelsLast' ? 3 : 1;
  }

  private get pointwise(): boolean {
    return this.kernelSize[0] === 1 && this.kernelSize[1] === 1;
  }

  override build(inputShape: Shape): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Array<number|null>;
    if (shape.length !== 4 || shape[this.channelAxis] !== this.inputChannels) {
      throw this.error(`expects ${this.dataFormat} inputs of rank 4 with ${this.inputChannels} channels, but got shape [${shape}]`);
    }
    this.addKernelWeights();
    this.inputSpec = [{ndim: 4, axes: {[this.channelAxis]: this.inputChannels}}];
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Array<number|null>;
    const [hAxis, wAxis] = this.dataFormat === 'channelsLast' ? [1, 2] : [2, 3];
    const out = [...shape];
    // A 1x1 kernel gives ceil(size / stride) under either padding.
    const padding = this.pointwise ? 'same' : this.padding;
    for (const [axis, i] of [[hAxis, 0], [wAxis, 1]]) {
      const size = shape[axis];
      out[axis] = size == null ? null : convOutputLength(size, this.kernelSize[i], this.strides[i], padding).length;
    }
    out[this.channelAxis] = this.units;
    return out;
  }

  /**
   * Whether a call on channel-major `[B, C, H, W]` input runs the pixel-vectorized kernel (1x1 only),
   * rather than transposing to channels-last around the strip kernels or `tf.conv2d`.
   */
  runsPixelKernel(inputShape: number[]): boolean {
    if (!this.pointwise || this.dataFormat !== 'channelsFirst') return false;
    const [b, , h, w] = inputShape;
    const pixels = Math.ceil(h / this.strides[0]) * Math.ceil(w / this.strides[1]);
    return choosePixelKernel(b * pixels, this.packedKernel());
  }

  override call(inputs: Tensor|Tensor[], kwargs: Kwargs): Tensor {
    return tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      let x = this.singleInput(inputs) as Tensor4D;
      if (this.runsPixelKernel(x.shape)) return this.applyPixelKernel(x);
      if (this.dataFormat === 'channelsFirst') x = transpose(x, [0, 2, 3, 1]);
      const y = this.activate(sparseConv2dChannelsLast(x, this.packedKernel(), this.geometry(), this.biasValue(), this.fusedActivation));
      return this.dataFormat === 'channelsFirst' ? transpose(y, [0, 3, 1, 2]) : y;
    });
  }

  /** The 1x1 convolution of channel-major `x` on the pixel-vectorized kernel, its activation fused. */
  private applyPixelKernel(x: Tensor4D): Tensor {
    const [sh, sw] = this.strides;
    if (sh > 1 || sw > 1) x = stridedSlice(x, [0, 0, 0, 0], x.shape, [1, 1, sh, sw]) as Tensor4D;
    const [b, c, h, w] = x.shape;
    const fused = VALID_FUSED_ACTIVATIONS.includes(this.activation as FusedActivation) ? this.activation as FusedActivation : 'linear';
    const y = channelMajorSparseMatMul(reshape(x, [b, c, h * w]), this.packedKernel().pixelMatrix(),
        {bias: this.biasValue(), activation: fused});
    const y4 = reshape(y, [b, this.units, h, w]);
    return fused === this.activation ? y4 : this.activate(y4);
  }

  /** The convolution's geometry, as the patch and matmul paths take it. */
  private geometry(): ConvGeometry {
    return {kernelSize: this.kernelSize, strides: this.strides, padding: this.padding};
  }

  override getConfig(): serialization.ConfigDict {
    return {...super.getConfig(), kernelSize: [...this.kernelSize], strides: [...this.strides], padding: this.padding,
      dataFormat: this.dataFormat};
  }
}
serialization.registerClass(SparseConv2D);
