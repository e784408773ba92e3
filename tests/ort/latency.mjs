#!/usr/bin/env node
// Inference latency of several models on the same input in ONNX Runtime, runs
// interleaved (A, B, C, A, B, C, ...) so that a slow spell of the machine hits
// every model alike. Meant for "INT8 must not be slower than FP32": give the
// FP32 model first; `ratio` is its median ÷ each model's median (> 1: faster).
//
//   node tests/ort/latency.mjs [--batch 256] [--threads 1] [--runs 20] [--warmup 3]
//       (--data X.npz|X.npy [--key K] | --input-shape D0,D1,...) [--input NAME] A.onnx B.onnx ...
//
// --data feeds the first --batch rows of the array; --input-shape feeds a
// fixed pseudo-random float32 tensor of that shape (its first dimension is the
// batch; --batch is then ignored). Prints one JSON object on stdout.
// Exit status: 0 success, 2 usage or runtime error.

import {
  UsageError, loadArray, rows, loadOrt, openSession, inputMeta, pickInput, quantile, parseOptions,
  reportError,
} from './dataset.mjs';

const USAGE = `usage: node tests/ort/latency.mjs [options] A.onnx [B.onnx ...]
  --data X.npz|X.npy  input rows to feed (the first --batch of them)
  --key K             array of a .npz (default: the input's name, 'image', 'x' or the only array)
  --input-shape D,..  instead of --data: a fixed pseudo-random float32 tensor of this shape
  --input NAME        model input to feed (default: the only input)
  --batch N           rows per run with --data (default 256)
  --threads N         ORT intra-op threads (default 1); inter-op threads are 1
  --runs N            timed runs per model, interleaved across models (default 20)
  --warmup N          untimed runs per model first (default 3)
prints JSON: per model median/p10/p90/min/mean ms and ratio = first model's median ÷ this one's;
paired_ratio = median over rounds of (first model's time ÷ this one's) in the same round`;

const SPEC = {
  data: 'string', key: 'string', 'input-shape': 'string', input: 'string', batch: 'int',
  threads: 'int', runs: 'int', warmup: 'int',
};

/** Deterministic float32 values in [-1, 1) (xorshift32), so every run of the script feeds the same tensor. */
function pseudoRandom(count) {
  const out = new Float32Array(count);
  let s = 0x9e3779b9;
  for (let i = 0; i < count; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

function parseShape(text) {
  const dims = text.split(',').map((d) => Number(d.trim()));
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new UsageError(`--input-shape needs positive integers separated by commas, got '${text}'`);
  }
  return dims;
}

const ms = (v) => Number(v.toFixed(4));

async function main(argv) {
  const parsed = parseOptions(argv, SPEC);
  if (parsed.help) {
    console.log(USAGE);
    return 0;
  }
  const { opts, positional: models } = parsed;
  if (models.length === 0) throw new UsageError('give at least one model');
  if (!opts.data === !opts['input-shape']) throw new UsageError('give exactly one of --data and --input-shape');
  const batch = opts.batch ?? 256;
  const threads = opts.threads ?? 1;
  const runs = opts.runs ?? 20;
  const warmup = opts.warmup ?? 3;
  if (batch < 1 || threads < 1 || runs < 1) throw new UsageError('--batch, --threads and --runs must be at least 1');

  const ort = await loadOrt();
  const sessions = [];
  for (const path of models) {
    const t0 = process.hrtime.bigint();
    const session = await openSession(ort, path, threads);
    sessions.push({ path, session, loadMs: Number(process.hrtime.bigint() - t0) / 1e6 });
  }
  const inputName = pickInput(sessions[0].session, opts.input, models[0]);
  for (const { path, session } of sessions) {
    if (!session.inputNames.includes(inputName)) throw new UsageError(`${path} has no input '${inputName}'`);
    if (session.inputNames.length !== 1) {
      throw new UsageError(`${path} has ${session.inputNames.length} inputs; latency.mjs feeds one`);
    }
  }

  let tensor;
  if (opts.data) {
    const data = loadArray(opts.data, opts.key, [inputName, 'image', 'images', 'x']);
    if (data.shape.length < 1 || data.shape[0] < batch) {
      throw new UsageError(`${opts.data} has ${data.shape[0] ?? 0} rows, --batch needs ${batch}`);
    }
    const view = rows(data, 0, batch);
    tensor = new ort.Tensor(view.dtype, view.data, view.shape);
  } else {
    const shape = parseShape(opts['input-shape']);
    tensor = new ort.Tensor('float32', pseudoRandom(shape.reduce((a, b) => a * b, 1)), shape);
  }
  for (const { path, session } of sessions) {
    const meta = inputMeta(session, inputName);
    if (meta?.type && meta.type !== tensor.type) {
      throw new UsageError(`${path}: input '${inputName}' expects ${meta.type}, the data is ${tensor.type}`);
    }
  }
  const feeds = { [inputName]: tensor };

  for (const s of sessions) {
    for (let i = 0; i < warmup; i++) {
      try {
        await s.session.run(feeds);
      } catch (e) {
        throw new UsageError(`${s.path}: inference failed: ${e.message}`);
      }
    }
  }
  const times = sessions.map(() => []);
  for (let r = 0; r < runs; r++) {
    for (let m = 0; m < sessions.length; m++) {
      const t0 = process.hrtime.bigint();
      await sessions[m].session.run(feeds);
      times[m].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }

  const median0 = quantile([...times[0]].sort((a, b) => a - b), 0.5);
  const result = {
    batch: tensor.dims[0],
    input_shape: [...tensor.dims],
    threads,
    runs,
    warmup,
    models: sessions.map((s, m) => {
      const sorted = [...times[m]].sort((a, b) => a - b);
      const median = quantile(sorted, 0.5);
      const paired = times[0].map((t, r) => t / times[m][r]).sort((a, b) => a - b);
      return {
        model: s.path,
        median_ms: ms(median),
        p10_ms: ms(quantile(sorted, 0.1)),
        p90_ms: ms(quantile(sorted, 0.9)),
        min_ms: ms(sorted[0]),
        mean_ms: ms(sorted.reduce((a, b) => a + b, 0) / sorted.length),
        load_ms: ms(s.loadMs),
        ratio: Number((median0 / median).toFixed(4)),
        paired_ratio: Number(quantile(paired, 0.5).toFixed(4)),
      };
    }),
  };
  console.log(JSON.stringify(result));
  for (const s of sessions) await s.session.release();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => { process.exitCode = reportError('latency.mjs', e); },
);
