/**
 * Parsers of the command's flag values, run while the command line is parsed (or, for the lists a
 * command takes as text, first thing in the command), so that a bad value fails with exit code 2
 * before any work.
 */
import {InvalidArgumentError} from 'commander';
import {checkChoice, isPositiveIntPair} from '../util/validate';
import {UsageError} from './usage';

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
function parseList<T>(value: string, parse: (entry: string) => T): T[] {
  return value.split(',').map(entry => {
    try {
      return parse(entry.trim());
    } catch (e) {
      throw new InvalidArgumentError(`'${entry}' ${(e as Error).message}`);
    }
  });
}

/** Parses a comma-separated list of sparsities (`--sparsities 0.5,0.9`), naming the entry that fails. */
export function parseSparsityList(value: string): number[] {
  return parseList(value, parseSparsity);
}

/** A list flag parsed entry by entry; a bad entry is a usage error naming the flag. */
export function listFlag<T>(text: string|undefined, parse: (entry: string) => T, flag: string): T[]|undefined {
  if (text === undefined) return undefined;
  try {
    return parseList(text, parse);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

/**
 * A flag's value among `valid`, matched without regard to case (`--pooling max` is 'MAX').
 * @throws UsageError `<flag> must be one of 'a', 'b', but got '<value>'`.
 */
export function flagChoice<T extends string>(value: string, valid: readonly T[], flag: string): T {
  const found = valid.find(v => v.toLowerCase() === value.toLowerCase());
  try {
    return checkChoice(found ?? value, valid, flag);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Parses a port number, 0 for any free one. */
export function parsePort(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError('must be an integer in [0, 65535] (0 picks a free port)');
  }
  return n;
}

/** Parses a positive integer (a count of epochs or runs). */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}
