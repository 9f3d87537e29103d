/**
 * One mask update, without layer plumbing: tfmot's `pruning_impl.Pruning`. Given the
 * `(weight, mask, threshold)` variables of a layer and a schedule, it decides whether the masks are
 * recomputed in a step, recomputes them from the current weights through the kernels, and applies
 * them. Also the global variant: one threshold across the weights of many layers.
 */
import {concat, dispose, reshape, scalar, Tensor, tidy} from '@tensorflow/tfjs-core';
import type {LayerVariable} from '@tensorflow/tfjs-layers';
import {applyMask, maskFromThreshold} from '../ops/mask';
import {mByNMask} from '../ops/m_by_n';
import {POOLING_TYPES, PoolingType} from '../ops/pool';
import {pruneMask} from '../ops/prune_mask';
import {magnitudeThreshold} from '../ops/threshold';
import {PruningSchedule, serializeSchedule} from './schedules';

/** How the magnitudes of a block are pooled into one score: tfmot's name for the ops' `PoolingType`. */
export type BlockPoolingType = PoolingType;
/** The valid `BlockPoolingType` values, for runtime checks (the ops' `POOLING_TYPES`). */
export const VALID_BLOCK_POOLING_TYPES: readonly BlockPoolingType[] = POOLING_TYPES;

/** The threshold tfmot stores for M:N masks, which have no threshold (a placeholder). */
export const M_BY_N_THRESHOLD = 999;

/** tfmot's message when block sparsity meets a weight that is not rank 2. */
export const BLOCK_RANK_ERROR_MSG = 'Block Sparsity can only be used for layers which have 2-dimensional weights.';

/** The variables of one pruned weight. */
export interface PruningVar {
  /** The weight that is pruned. */
  weight: LayerVariable;
  /** 0/1 float32 mask with the weight's shape. */
  mask: LayerVariable;
  /** float32 scalar: the magnitude (or pooled magnitude) threshold of the last update. */
  threshold: LayerVariable;
}

/** Arguments of `Pruning`. */
export interface PruningArgs {
  pruningVars: PruningVar[];
  pruningSchedule: PruningSchedule;
  blockSize?: [number, number];
  blockPoolingType?: BlockPoolingType;
  /** `[m, n]`: m zeros in every n consecutive weights along input channels (tfmot's `sparsity_m_by_n`). */
  sparsityMByN?: [number, number]|null;
}

/**
 * The mask math of one pruned layer: tfmot's `Pruning`. The layer owns the variables; this object
 * decides when to recompute the masks and applies them. Weights are never written in place: every
 * update assigns a new tensor (tfjs-wasm caches packed weights per tensor).
 */
export class Pruning {
  readonly pruningVars: readonly PruningVar[];
  readonly schedule: PruningSchedule;
  readonly blockSize: [number, number];
  readonly blockPoolingType: BlockPoolingType;
  readonly sparsityMByN: [number, number]|null;
  /** The weight and mask data last combined by `weightMaskOp`, to skip re-masking unchanged weights. */
  private readonly masked = new Map<PruningVar, [object, object]>();

  /**
   * @throws Error `BLOCK_RANK_ERROR_MSG` when a block other than 1x1 meets a weight that is not rank 2
   *     (tfmot raises it at build time too).
   */
  constructor(args: PruningArgs) {
    this.pruningVars = args.pruningVars;
    this.schedule = args.pruningSchedule;
    this.blockSize = args.blockSize ?? [1, 1];
    this.blockPoolingType = args.blockPoolingType ?? 'AVG';
    this.sparsityMByN = args.sparsityMByN ?? null;
    if (!isUnitBlock(this.blockSize) && this.pruningVars.some(v => v.weight.shape.length !== 2)) {
      throw new Error(BLOCK_RANK_ERROR_MSG);
    }
  }

  /**
   * tfmot's `conditional_mask_update`: recomputes every mask and threshold if the schedule prunes in
   * `step`; with M:N, only at step 1 (the first training batch), ignoring the schedule.
   * @returns whether the masks were recomputed.
   */
  conditionalMaskUpdate(step: number): boolean {
    if (this.sparsityMByN != null) {
      if (step !== 1) return false;
      this.updateMByNMasks(this.sparsityMByN);
      return true;
    }
    const [shouldPrune, sparsity] = this.schedule.call(step);
    if (!shouldPrune) return false;
    this.updateMasks(sparsity);
    return true;
  }

  /** Recomputes every mask and threshold at `sparsity` from the current weights (block pooled if set). */
  updateMasks(sparsity: number): void {
    for (const v of this.pruningVars) {
      const {mask, threshold} = pruneMask(v.weight.read(), sparsity,
          {blockSize: this.blockSize, blockPoolingType: this.blockPoolingType});
      assign(v.mask, mask);
      assign(v.threshold, threshold);
    }
  }

  private updateMByNMasks(mByN: [number, number]): void {
    for (const v of this.pruningVars) {
      assign(v.mask, mByNMask(v.weight.read(), mByN));
      assign(v.threshold, scalar(M_BY_N_THRESHOLD));
    }
  }

  /**
   * tfmot's `weight_mask_op`: `weight := weight * mask`, as a new tensor. Skipped for a weight whose
   * data and mask have not changed since it was last masked (so inference does not re-mask).
   */
  weightMaskOp(): void {
    for (const v of this.pruningVars) {
      const w = v.weight.read(), m = v.mask.read();
      const last = this.masked.get(v);
      if (last != null && last[0] === w.dataId && last[1] === m.dataId) continue;
      assign(v.weight, applyMask(w, m));
      this.masked.set(v, [v.weight.read().dataId, m.dataId]);
    }
  }
}

function isUnitBlock(blockSize: readonly number[]): boolean {
  return blockSize[0] === 1 && blockSize[1] === 1;
}

/** Writes `value` into `variable` (a new tensor for the variable) and releases `value`. */
function assign(variable: LayerVariable, value: Tensor): void {
  try {
    variable.write(value);
  } finally {
    value.dispose();
  }
}

/** A schedule as groups compare them: two members prune alike when their serialized configs are equal. */
export function scheduleKey(schedule: PruningSchedule): string {
  return JSON.stringify(serializeSchedule(schedule));
}

/**
 * `Pruning`s that update their masks together, at the schedule they share: in a step, the first
 * member whose training call asks updates every member's masks (`updateMasks`), and the others'
 * calls in that step do nothing.
 */
export abstract class PruningGroup<M extends Pruning> {
  private lastStep: number|null = null;

  constructor(readonly members: readonly M[]) {}

  /**
   * Updates all members' masks if the shared schedule prunes in `step` and this step has not been
   * handled yet (each member calls this from its own training call).
   * @returns whether the masks were recomputed by this call.
   */
  conditionalMaskUpdate(step: number): boolean {
    if (this.lastStep === step) return false;
    this.lastStep = step;
    const [shouldPrune, sparsity] = this.members[0].schedule.call(step);
    if (!shouldPrune) return false;
    this.updateMasks(sparsity);
    return true;
  }

  /** Recomputes every member's masks at `sparsity`. */
  abstract updateMasks(sparsity: number): void;
}

/**
 * Global magnitude pruning: one threshold across all weights of several `Pruning`s, as
 * `torch.nn.utils.prune.global_unstructured` does (tfmot has none). The members share one schedule
 * (equal configs); in a step the first member to ask updates every member's masks, with
 * `k = max(roundHalfEven(N * (1 - s)), 1)` kept over the N weights of all members together (ties
 * kept), and every member's threshold set to the shared one. Unstructured only: no blocks, no M:N.
 */
export class GlobalPruningGroup extends PruningGroup<Pruning> {
  /** @throws Error if there are no members, a member uses blocks or M:N, or schedules differ. */
  constructor(members: Pruning[]) {
    if (members.length === 0) throw new Error('Global pruning needs at least one pruned layer');
    const first = scheduleKey(members[0].schedule);
    for (const m of members) {
      if (!isUnitBlock(m.blockSize) || m.sparsityMByN != null) {
        throw new Error('Global pruning supports unstructured pruning only: use blockSize [1, 1] and no ' +
            `sparsityMByN (got blockSize [${m.blockSize}], sparsityMByN ${JSON.stringify(m.sparsityMByN)})`);
      }
      const schedule = scheduleKey(m.schedule);
      if (schedule !== first) {
        throw new Error(`Global pruning needs one schedule for all its layers, but got ${first} and ${schedule}`);
      }
    }
    super(members);
  }

  /** Recomputes every member's masks at `sparsity` with one threshold over all their weights. */
  updateMasks(sparsity: number): void {
    const vars = this.members.flatMap(m => m.pruningVars);
    if (vars.length === 0) return;
    const threshold = tidy(() =>
      magnitudeThreshold(concat(vars.map(v => reshape(v.weight.read(), [-1]))), sparsity));
    try {
      for (const v of vars) {
        assign(v.mask, maskFromThreshold(v.weight.read(), threshold));
        v.threshold.write(threshold);
      }
    } finally {
      dispose(threshold);
    }
  }
}
