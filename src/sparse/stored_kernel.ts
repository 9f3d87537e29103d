/**
 * The shared base of the sparse layers (`SparseDense`, `SparseConv2D`): a kernel stored compactly as
 * tfjs weights, checked as it is written, decoded into the kernel layout on first use.
 */
import {cast, serialization, Tensor, Tensor1D} from '@tensorflow/tfjs-core';
import {initializers, layers, LayerVariable} from '@tensorflow/tfjs-layers';
// The matmul kernels must be registered wherever a saved sparse model is loaded.
import '../kernels/register';
import {DEFAULT_STRIP_WIDTH} from '../kernels/dispatch';
import {MAX_HEAP_BYTES} from '../kernels/heap_limit';
import {bytesOf, crc32c} from '../util/crc32c';
import {checkChoice, isPositiveIntPair} from '../util/validate';
import {BlockSparseMatrix} from './format';
import {packKept} from './pack';
import {DenseWeight, dequantize, INT8_MAX_K, StoredDtype, VALID_STORED_DTYPES} from './quantize';
import {checkScales, decodePositions, decodeStored, MAX_RICE_PARAMETER, PositionCoding, StorageError, StorageLayout, storedBytes,
  VALID_POSITION_CODINGS, wordsToInt8} from './storage';

type Layer = layers.Layer;
type LayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]>;

/** Constructor arguments (and config) of a stored-kernel layer; `toSparse` fills them from a stored weight. */
export interface StoredKernelArgs extends LayerArgs {
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
 * The config keys a stored-kernel layer accepts: tfjs's `Layer` arguments, `customObjects` (which tfjs's
 * deserializer adds) and its own. Unknown keys are refused, so that a corrupted key (a flipped bit in
 * `checksums`) cannot turn the checks off.
 */
export const STORED_KERNEL_KEYS = ['name', 'trainable', 'dtype', 'inputShape', 'batchInputShape', 'batchSize', 'inputDType',
  'weights', 'customObjects', 'units', 'inputDim', 'activation', 'useBias', 'blockSize', 'valueDtype', 'positionCoding', 'riceParameter',
  'nonzeroBlocks', 'storedValues', 'positionWords', 'kernelBlockSize', 'checksums'];

/**
 * A layer whose kernel is stored compactly (`storage.ts`: block positions plus nonzero values,
 * float32 or int8 with scales) as ordinary tfjs weights: the part `SparseDense` and `SparseConv2D`
 * share. It checks its config (the storage layout, sizes bound by each other before anything is
 * allocated) and every weight as it is written, its CRC-32C against the config's first, so a corrupt
 * artifact is refused by `tf.loadLayersModel` itself, naming the layer; and it keeps the kernel in
 * the layout the kernels read, decoded from those weights on first use.
 */
export abstract class StoredKernelLayer extends layers.Layer {
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
  protected static readonly configKeys: readonly string[] = STORED_KERNEL_KEYS;

  /** @throws Error naming the layer and the field for a bad or unknown config value. */
  constructor(args: StoredKernelArgs) {
    super(args);
    const fail = (what: string): never => {
      throw this.configError(what);
    };
    const known = (new.target as unknown as typeof StoredKernelLayer).configKeys;
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
