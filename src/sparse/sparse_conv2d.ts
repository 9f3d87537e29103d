/**
 * `SparseConv2D`: a Conv2D (dilation 1) whose kernel is block-sparse, stored as `SparseDense` stores
 * its own, run on the block-sparse matmul of its patches (`conv_channels_last.ts`), on `tf.conv2d`
 * where those do not pay, or, channel-major 1x1, on the pixel kernel. Made by `toSparse`; registered
 * for serialization.
 */
import {reshape, serialization, stridedSlice, Tensor, Tensor4D, tidy, transpose} from '@tensorflow/tfjs-core';
import {layers} from '@tensorflow/tfjs-layers';
import {checkChoice, positiveIntPair} from '../util/validate';
import {FusedActivation, VALID_FUSED_ACTIVATIONS} from './activation';
import {choosePixelKernel} from './matmul';
import {channelMajorSparseMatMul} from './pixel_matmul';
import {convOutputLength, PatchPadding, VALID_PATCH_PADDINGS} from '../ops/patches';
import {SparseDense, SparseDenseArgs} from './sparse_dense';
import {ConvGeometry, sparseConv2dChannelsLast} from './conv_channels_last';
import {STORED_KERNEL_KEYS} from './stored_kernel';

type Kwargs = Parameters<layers.Layer['call']>[1];
type Shape = Parameters<layers.Layer['build']>[0];

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
      [...STORED_KERNEL_KEYS, 'kernelSize', 'strides', 'padding', 'dataFormat'];
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
