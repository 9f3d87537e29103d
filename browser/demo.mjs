// The demo page's script (see demo.html). State for tests and scripts lives in the DOM:
// body[data-state] is loading | ready | busy | error, body[data-run] counts finished
// classifications, and each model card carries data-model, data-digit, data-probs (JSON) and
// data-latency (ms).
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {setWasmPaths} from '@tensorflow/tfjs-backend-wasm';
import * as sparsity from 'tfjs-sparsity';

const SIZE = 28;
/**
 * Latency: ROUNDS rounds of CALLS batch-1 predict() calls each (outputs read back); the median
 * round's time per call is shown. Timing a round, not a call, because pages that are not
 * cross-origin isolated get performance.now() in 0.1 ms steps.
 */
const ROUNDS = 7, CALLS = 20;
/** MNIST digits fit a 20x20 box inside the 28x28 image, centred by their centre of mass. */
const BOX = 20;

const $ = (id) => document.getElementById(id);
const models = {dense: null, sparse: null};
let current = null;  // {pixels: Float32Array, label?: number}
let queue = Promise.resolve();
let showingTestDigit = false;  // the drawing canvas shows a picked digit: the next stroke clears it

function setState(state, text) {
  document.body.dataset.state = state;
  if (text !== undefined) $('status').textContent = text;
}

function fail(error) {
  console.error(error);
  setState('error', `Error: ${error?.message ?? error}`);
}

/** Runs jobs one at a time (model loads and classifications share the backend). */
function enqueue(job) {
  queue = queue.then(job).catch(fail);
  return queue;
}

async function loadModel(name) {
  return tfl.loadLayersModel(`/models/${encodeURIComponent(name)}/model.json`);
}

function describeModel(card, name, model) {
  const params = model.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
  const sparseLayers = model.layers.filter(l => l.getClassName().startsWith('Sparse')).length;
  card.dataset.model = name;
  card.querySelector('.meta').textContent = `${(params * 4 / 1024).toFixed(0)} KB of weights` +
      (sparseLayers ? `, ${sparseLayers} sparse layer${sparseLayers > 1 ? 's' : ''}` : ', all layers dense');
}

/** Softmax probabilities of `model` for the [1, 28, 28, 1] input `x`. */
async function probabilities(model, x) {
  const probs = tf.tidy(() => tf.softmax(model.predict(x)));
  try {
    return Array.from(await probs.data());
  } finally {
    probs.dispose();
  }
}

/** Milliseconds per call of CALLS batch-1 predict() calls, outputs read back as an app would. */
async function timeRound(model, x) {
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const y = model.predict(x);
    await y.data();
    y.dispose();
  }
  return (performance.now() - start) / CALLS;
}

/**
 * Each model's probabilities and median latency for `pixels`. The models' rounds alternate, so
 * both see the same machine load.
 */
async function classify(list, pixels) {
  const x = tf.tensor4d(pixels, [1, SIZE, SIZE, 1]);
  try {
    const results = [];
    for (const model of list) results.push({probs: await probabilities(model, x), times: []});
    for (let round = 0; round < ROUNDS; round++) {
      for (const [k, model] of list.entries()) results[k].times.push(await timeRound(model, x));
    }
    return results.map(({probs, times}) => ({probs, latency: times.sort((p, q) => p - q)[times.length >> 1]}));
  } finally {
    x.dispose();
  }
}

/** Compiles the model's kernels and packs its weights, so the first timed call is not the slowest. */
async function warmUp(model) {
  const x = tf.zeros([1, SIZE, SIZE, 1]);
  try {
    await probabilities(model, x);
    await timeRound(model, x);
  } finally {
    x.dispose();
  }
}

function showResult(card, {probs, latency}, label) {
  const digit = probs.indexOf(Math.max(...probs));
  card.dataset.digit = String(digit);
  card.dataset.probs = JSON.stringify(probs);
  card.dataset.latency = String(latency);
  if (label === undefined) delete card.dataset.correct;
  else card.dataset.correct = String(digit === label);
  card.querySelector('.digit').textContent = String(digit);
  card.querySelector('.confidence').textContent = `${(probs[digit] * 100).toFixed(1)} %`;
  card.querySelector('.bars').replaceChildren(...probs.map((p, k) => {
    const li = document.createElement('li');
    li.className = k === digit ? 'top' : '';
    li.innerHTML = `<span>${k}</span><span class="bar"><span style="width:${(p * 100).toFixed(1)}%"></span></span>` +
        `<span class="pct">${(p * 100).toFixed(1)}%</span>`;
    return li;
  }));
  const latencyText = card.querySelector('.latency').firstChild;
  latencyText.textContent = `${latency.toFixed(3)} ms `;
}

function classifyCurrent() {
  return enqueue(async () => {
    if (!current || !models.dense || !models.sparse) return;
    setState('busy', 'Classifying…');
    const {pixels, label} = current;
    const [dense, sparse] = await classify([models.dense, models.sparse], pixels);
    showResult($('dense'), dense, label);
    showResult($('sparse'), sparse, label);
    const ratio = dense.latency / sparse.latency;
    document.body.dataset.run = String(Number(document.body.dataset.run) + 1);
    setState('ready', ratio >= 1 ? `Sparse model ${ratio.toFixed(2)}× faster.` : `Sparse model ${(1 / ratio).toFixed(2)}× slower.`);
  });
}

function showInput(pixels, label) {
  current = {pixels, label};
  const ctx = $('seen').getContext('2d');
  const image = ctx.createImageData(SIZE, SIZE);
  pixels.forEach((v, i) => {
    const g = Math.round(v * 255);
    image.data.set([g, g, g, 255], i * 4);
  });
  ctx.putImageData(image, 0, 0);
  $('truth').textContent = label === undefined ? '(your drawing)' : `label ${label}`;
  classifyCurrent();
}

// --- drawing --------------------------------------------------------------------------------

/**
 * The drawing as an MNIST digit: the strokes' bounding box scaled to fit 20x20 (area-averaged
 * grey values in [0, 1]) and placed so that their centre of mass is the centre of the 28x28 image.
 * Null for an empty canvas.
 */
function drawingToMnist(canvas) {
  const {width, height} = canvas;
  const rgba = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (rgba[(y * width + x) * 4] > 0) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) return null;
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const scale = BOX / side;
  // Draw into a 20x20 box, averaging each output pixel's source area (4x4 samples per source pixel step).
  const boxW = Math.max(1, Math.round((x1 - x0 + 1) * scale)), boxH = Math.max(1, Math.round((y1 - y0 + 1) * scale));
  const box = new Float32Array(boxW * boxH);
  const SUB = 8;
  for (let by = 0; by < boxH; by++) {
    for (let bx = 0; bx < boxW; bx++) {
      let sum = 0;
      for (let sy = 0; sy < SUB; sy++) {
        for (let sx = 0; sx < SUB; sx++) {
          const x = Math.min(x1, Math.floor(x0 + (bx + (sx + 0.5) / SUB) / scale));
          const y = Math.min(y1, Math.floor(y0 + (by + (sy + 0.5) / SUB) / scale));
          sum += rgba[(y * width + x) * 4];
        }
      }
      box[by * boxW + bx] = sum / (SUB * SUB * 255);
    }
  }
  let mass = 0, cx = 0, cy = 0;
  box.forEach((v, i) => { mass += v; cx += v * (i % boxW); cy += v * Math.floor(i / boxW); });
  const left = Math.round((SIZE - 1) / 2 - cx / mass), top = Math.round((SIZE - 1) / 2 - cy / mass);
  const pixels = new Float32Array(SIZE * SIZE);
  box.forEach((v, i) => {
    const x = left + (i % boxW), y = top + Math.floor(i / boxW);
    if (x >= 0 && x < SIZE && y >= 0 && y < SIZE) pixels[y * SIZE + x] = v;
  });
  return pixels;
}

function setUpDrawing() {
  const canvas = $('draw');
  const ctx = canvas.getContext('2d');
  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 22;
  ctx.lineCap = ctx.lineJoin = 'round';
  let drawing = false;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener('pointerdown', (e) => {
    if (showingTestDigit) clear();
    showingTestDigit = false;
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    const [x, y] = at(e);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x, y);
    ctx.stroke();
    selectDigitButton(null);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    const [x, y] = at(e);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    const pixels = drawingToMnist(canvas);
    if (pixels) showInput(pixels);
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', () => clear());
}

// --- test digits ----------------------------------------------------------------------------

function selectDigitButton(button) {
  for (const b of $('digits').children) b.setAttribute('aria-pressed', String(b === button));
}

function setUpDigits(digits) {
  $('digits').replaceChildren(...digits.map(({label, pixels}, i) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.dataset.index = String(i);
    button.dataset.label = String(label);
    button.title = `test digit ${i} (label ${label})`;
    button.setAttribute('aria-pressed', 'false');
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = SIZE;
    const ctx = canvas.getContext('2d');
    const image = ctx.createImageData(SIZE, SIZE);
    pixels.forEach((v, k) => image.data.set([v * 255, v * 255, v * 255, 255], k * 4));
    ctx.putImageData(image, 0, 0);
    button.append(canvas);
    button.addEventListener('click', () => {
      selectDigitButton(button);
      const draw = $('draw');
      const c = draw.getContext('2d');
      c.imageSmoothingEnabled = true;
      c.drawImage(canvas, 0, 0, draw.width, draw.height);
      showingTestDigit = true;
      showInput(Float32Array.from(pixels), label);
    });
    return button;
  }));
}

// --- start ----------------------------------------------------------------------------------

async function switchSparse(name) {
  setState('busy', `Loading ${name}…`);
  const model = await loadModel(name);
  models.sparse?.dispose();
  models.sparse = model;
  describeModel($('sparse'), name, model);
  await warmUp(model);
}

async function start() {
  setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  if (!await tf.setBackend('wasm')) throw new Error('the tfjs wasm backend failed to initialise');
  await sparsity.ready();
  const response = await fetch('/data/demo.json');
  if (!response.ok) throw new Error(`/data/demo.json: HTTP ${response.status}`);
  const demo = await response.json();
  const select = $('sparse-model');
  select.replaceChildren(...demo.models.map((name) => new Option(name, name, false, name === demo.sparse)));
  setUpDigits(demo.digits);
  setUpDrawing();
  models.dense = await loadModel(demo.dense);
  describeModel($('dense'), demo.dense, models.dense);
  $('dense').querySelector('.model-name').textContent = demo.dense;
  await warmUp(models.dense);
  await switchSparse(demo.sparse);
  const wasm = tf.backend().wasm;
  $('env').textContent = `tfjs ${tf.version_core}, backend ${tf.getBackend()} ` +
      `(SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'on' : 'off'}, ${wasm.tfjs.getThreadsCount()} thread(s)), ` +
      `latency: median of ${ROUNDS} rounds of ${CALLS} batch-1 predict() calls per model and input.`;
  setState('ready', 'Ready: draw a digit or pick one below.');
  select.addEventListener('change', () => enqueue(async () => {
    select.disabled = true;
    try {
      await switchSparse(select.value);
      setState('ready', `Loaded ${select.value}.`);
    } finally {
      select.disabled = false;
    }
  }).then(() => classifyCurrent()));
}

enqueue(start);
window.addEventListener('error', (e) => fail(e.error ?? e.message));
window.addEventListener('unhandledrejection', (e) => fail(e.reason));
