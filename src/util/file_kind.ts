/** What a file system entry is, as messages about paths name it. */
import type {Stats} from 'node:fs';

/** 'a file', 'a directory', 'a FIFO', ... for `stats` (a symlink's target, as `stat` gives it). */
export function fileKind(stats: Stats): string {
  if (stats.isFile()) return 'a file';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}
