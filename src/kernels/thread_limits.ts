/**
 * The dispatcher's thread limits, each with the benchmark and date that set it: when a sparse kernel
 * call runs on more than one thread, how threads wait for work, and when they step aside. The
 * other dispatch decisions are in `dispatch.ts`, and this file keeps its rules: at the bottom of the
 * layers, importing nothing. Used by kernels/threads_for.ts, threads.ts, thread_state.ts,
 * thread_pool.ts and spmm_nchw.ts.
 */

// `node --import tsx bench/threads.ts` (--sweep, --browser [--sweep]; BENCHMARKS.md "Threads"): on the
// shared 2-core machine at loads of 2-5 on 2026-12-06, and idle (load 0.3-1.9) on 2026-12-07.

/**
 * The default thread count is every core (the main thread takes a share, so cores − 1 workers), at
 * most this. Two threads paid where nothing was copied (1.44-1.58x on the larger 1x1 convolutions in
 * a cross-origin-isolated page); more than 4 were never measured, and kernels that stream their
 * weights stop scaling before the memory bus does.
 */
export const MAX_DEFAULT_THREADS = 4;

/**
 * The fewest multiply-adds for threads where nothing is copied (a shared tfjs-wasm heap: a
 * cross-origin-isolated page, Node after `useThreadedWasm`): below it handing out parts and waiting
 * for them costs what the second thread saves. `node --import tsx bench/threads.ts --browser --sweep`
 * (pixel and depthwise kernels, threads forced, isolated Chromium page, idle machine, 2026-12-07;
 * BENCHMARKS.md "Threads"): with THREAD_SPIN_MS 1.10-1.15x at 0.08M, 1.56-1.59x at 0.34M,
 * 1.81-1.94x from 1.0M (without the spin: 0.35x, 0.90x, 1.28-1.50x). Node on the shared heap
 * (`--sweep`, load 1.2-1.6, same day): 1.05x at 0.08M, 1.17x at 0.11M, 1.37-1.41x at 0.21-0.32M,
 * 1.57-1.93x from 0.84M.
 */
export const MIN_THREADED_MACS = 100_000;

/**
 * Where calls copy their operands (our shared memory: Node, the cpu backend), the fewest
 * multiply-adds for threads. `--sweep` (pixel kernel, threads forced, Node): at load 5, 0.26-0.67x up
 * to 1.3M multiply-adds, 0.55-0.97x at 2.5-5.4M where few per copied byte, 1.13-1.35x at 5.1M with
 * 6.4-12.8 per byte, 1.49x at 41M; idle (load 0.5, 2026-12-07): 0.25-0.55x up to 2.5M, 1.01x at
 * 5.4M with 1.7 per byte, 1.17-1.53x at 5.1-41M with 6.4-12.8 per byte.
 */
export const MIN_COPIED_THREADED_MACS = 4_000_000;

/**
 * Where calls copy their operands, the fewest multiply-adds per copied byte. One core runs about 20 G
 * multiply-adds per second and copies about 10 GB per second, so the second thread saves
 * macs / 40e9 s and the copies cost bytes / 10e9 s: threads pay above about 4 per byte. The same
 * sweeps: 0.55-0.97x at 0.5-1.7 per byte, 1.13x at 2.4 (15M), 1.13-1.53x at 6.4-12.8.
 */
export const MIN_MACS_PER_COPIED_BYTE = 4;

/**
 * The fewest multiply-adds for threads where the pixel kernel splits output channels (too few pixels
 * per example to split them: `PIXEL_SPLIT_MIN_TILES`), nothing copied. Every part then packs the same
 * input tiles, and a part the calling thread takes over from a late worker packs them again.
 * `node --import tsx bench/threads.ts --sweep` (Node, shared heap, threads forced, 2026-12-07): 1.17x
 * at 0.11M, 1.37x at 0.21M, 1.68-1.91x from 0.84M; the layers table's Dense 32x256x256 at 90 %
 * (0.21M, 32 rows) ran 0.74x and 0.78x in the two runs of three where the worker did not get a core
 * in time (1.20x in the third).
 */
export const MIN_CHANNEL_SPLIT_MACS = 500_000;

/**
 * What a kernel call does: its multiply-adds and the bytes of its activations and outputs; for the
 * pixel kernel also its pixels per example (it splits output channels under `PIXEL_SPLIT_MIN_TILES`
 * 16-pixel tiles per thread).
 */
export interface ThreadedWork {
  macs: number;
  bytes: number;
  pixels?: number;
}

/**
 * Whether a call of `work` pays for `threads` threads, given whether running it threaded copies its
 * operands (`copies`, asked only for calls past the first limit).
 */
export function threadsPay(work: ThreadedWork, copies: () => boolean, threads = 2): boolean {
  const channelSplit = work.pixels !== undefined && !splitsPixels(work.pixels, threads);
  if (work.macs < (channelSplit ? MIN_CHANNEL_SPLIT_MACS : MIN_THREADED_MACS)) return false;
  if (!copies()) return true;
  return work.macs >= MIN_COPIED_THREADED_MACS && work.macs >= MIN_MACS_PER_COPIED_BYTE * work.bytes;
}

/**
 * The strip kernels split rows between threads in pairs (their 2-row tiles): fewer rows than this
 * stay on one thread. Not a speed threshold: below 4 rows there is at most one pair, so one part, and
 * asking for threads would only copy the operands (Node, the cpu backend).
 */
export const MIN_STRIP_THREAD_ROWS = 4;

/**
 * The fewest 16-pixel tiles per thread for which the pixel kernel splits pixels; with fewer pixels it
 * splits output channels (by equal nonzeros). No record of how it was set (git log: commit 9a9d9a5,
 * which set it, records no run); the threaded calls of BENCHMARKS.md "Threads" split pixels from 64
 * pixels at 2 threads, and every split is bit-identical to one thread, so only speed rides on it.
 */
export const PIXEL_SPLIT_MIN_TILES = 2;

/** Whether the pixel kernel splits `pixels` per example (in its 16-pixel tiles) over `threads`, not its output channels. */
export function splitsPixels(pixels: number, threads: number): boolean {
  return pixels >= threads * PIXEL_SPLIT_MIN_TILES * 16;
}

/**
 * How long a thread looks for its next hand-off before it sleeps in `Atomics.wait` (a worker waiting
 * for its next part, the calling thread for the workers' parts): a wake-up from `Atomics.wait` costs
 * tens of microseconds, as much as a small layer's whole part. `bench/threads.ts --sweep` and
 * `--browser --sweep`, idle machine, 2026-12-07 (BENCHMARKS.md "Threads"), 0 / 0.1 / 0.3 ms: Node,
 * threads forced, 0.24x / 0.40x / 0.44x at 0.08M multiply-adds, 1.14x / 1.50x / 1.48x and 1.30x /
 * 1.68x / 1.68x at 5.1M; the isolated page's 1x1 convs through the ops (1M limit) 1.00-1.64x /
 * 1.00-1.88x / 0.98-1.86x. 0.1 ms takes nearly all of the gain; a worker spins at most that long
 * after each part.
 */
export const THREAD_SPIN_MS = 0.1;

/**
 * The speedup below which `GainMonitor` suspends threads (its average of threaded calls' measured
 * speedups): under 1, since equal parts never finish exactly together and small calls' estimates are
 * noisy. At 0.95 it suspended threads on the idle machine too, after noisy small calls (2026-12-07,
 * `bench/threads.ts --browser`, isolated page: the 112x112 16->96 conv ran 0.91-1.01x where threads
 * give it 1.52-1.59x); at 0.8 two runs gave 1.47-1.85x on every 1x1 conv of the table. It still
 * catches what runs under a load of 4-5 saw at their worst (2 threads at 0.61-0.8x of one), not the
 * milder 0.8-0.98x.
 */
export const MIN_GAIN = 0.8;

/**
 * How long threads stay suspended before calls try them again. Not measured: a second spans hundreds
 * of calls of any layer in the tables above (so retries on a busy machine are rare), and threads come
 * back soon after a core comes free.
 */
export const SUSPEND_MS = 1000;
