/**
 * The activations the channel-major kernels fuse, as the clamp `[vmin, vmax]` they apply (XNNPACK's
 * minmax). Infinite bounds are exact and keep NaN (the kernels clamp with pmax/pmin).
 */
import {checkChoice} from '../util/validate';

/** Activations fused into the channel-major kernels. */
export type FusedActivation = 'linear'|'relu'|'relu6';
export const VALID_FUSED_ACTIVATIONS: FusedActivation[] = ['linear', 'relu', 'relu6'];

/** The clamp of a fused activation. */
export function clampOf(activation: FusedActivation): {vmin: number; vmax: number} {
  return {vmin: activation === 'linear' ? -Infinity : 0, vmax: activation === 'relu6' ? 6 : Infinity};
}

/** Checks an activation option; `op` names the caller. */
export function fusedActivationArg(activation: unknown, op: string): FusedActivation {
  return checkChoice(activation ?? 'linear', VALID_FUSED_ACTIVATIONS, 'activation', op);
}
