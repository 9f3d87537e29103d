/**
 * Parsers of the command's flag values, run while the command line is parsed, so that a bad value
 * fails with exit code 2 before any work.
 */
import {InvalidArgumentError} from 'commander';
import {isPositiveIntPair} from '../util/validate';

/** The kernels take block sides as int32. */
const MAX_BLOCK_SIDE = 2 ** 31 - 1;

/** Parses a fraction in [0, 1) for --sparsity style flags. */
export function parseSparsity(value: string): number {
  const s = Number(value);
  if (value.trim() === '' || !(s >= 0 && s < 1)) throw new InvalidArgumentError('must be a number in [0, 1), e.g. 0.8');
  return s;
}

/** Parses a block size written `HxW` (e.g. 1x16): positive integers below 2^31. */
export function parseBlock(value: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(value.trim());
  const block = m ? [Number(m[1]), Number(m[2])] : [];
  if (!isPositiveIntPair(block) || block.some(d => d > MAX_BLOCK_SIDE)) {
    throw new InvalidArgumentError(`must be HEIGHTxWIDTH with positive integers up to ${MAX_BLOCK_SIDE}, e.g. 1x16`);
  }
  return block;
}

/** Parses a comma-separated list with `parse`, naming the entry that fails. */
export function parseList<T>(value: string, parse: (entry: string) => T): T[] {
  return value.split(',').map(entry => {
    try {
      return parse(entry.trim());
    } catch (e) {
      throw new InvalidArgumentError(`'${entry}' ${(e as Error).message}`);
    }
  });
}
