#!/usr/bin/env node
// Classification accuracy of a model in ONNX Runtime over a data set, and (with
// --reference) how far its outputs are from another model's on the same data —
// the measure of a quantized model against its float original.
//
//   node tests/ort/accuracy.mjs --model M.onnx --data X.npz|X.npy [--key K] [--input NAME]
//       [--labels L.npy | --labels-key K] [--output NAME] [--batch 256] [--threads 1]
//       [--reference R.onnx] [--samples N]
//
// Prints one JSON object on stdout (see README.md). The data set is read once;
// the models run batch by batch and only running sums are kept, so memory is
// the data plus one batch of outputs per model.
//
// Exit status: 0 success, 2 usage, data or runtime error (message on stderr).

import {
  UsageError, loadArray, npzKeys, rows, rowSize, loadOrt, openSession, inputMeta, pickInput,
  parseOptions, reportError,
} from './dataset.mjs';
import { readNpy } from './npy.mjs';

const USAGE = `usage: node tests/ort/accuracy.mjs --model M.onnx --data X.npz|X.npy [options]
  --key K           array of a .npz to feed (default: the input's name, 'image', 'x', or the only array)
  --input NAME      model input to feed (default: the only input)
  --labels L.npy    integer class labels, one per sample (default: the .npz's 'label'/'labels', if any)
  --labels-key K    take the labels from array K of the --data .npz
  --output NAME     output holding the class scores (default: the first output)
  --batch N         samples per run (default 256)
  --threads N       ORT intra-op threads (default 1)
  --reference R     also run R.onnx and compare every output with it
  --samples N       use only the first N samples
prints one JSON object: samples, top1/top5 (percent, with labels); with --reference also
reference_top1/top5, top1_agreement (percent) and per output: cosine_min (over samples),
cosine (whole output), sqnr_db, max_abs_err, max_abs_ref`;

const SPEC = {
  model: 'string', data: 'string', key: 'string', input: 'string', labels: 'string',
  'labels-key': 'string', output: 'string', batch: 'int', threads: 'int', reference: 'string',
  samples: 'int',
};

const TOP_K = 5;

/** Class scores of row r of a [B, C] (or [B, ...]) output as numbers. */
function rowView(t, r) {
  const per = rowSize(t.dims);
  return t.data.subarray(r * per, (r + 1) * per);
}

/** Rank of the label among the scores: the classes scoring higher, plus the tied ones of lower
 *  index (argmax picks the first maximum), so rank 0 is exactly "argmax == label". */
function labelRank(scores, label) {
  const s = Number(scores[label]);
  let rank = 0;
  for (let c = 0; c < scores.length; c++) {
    const v = Number(scores[c]);
    if (v > s || (v === s && c < label)) rank++;
  }
  return rank;
}

function argmax(scores) {
  let best = 0;
  for (let c = 1; c < scores.length; c++) if (Number(scores[c]) > Number(scores[best])) best = c;
  return best;
}

/** Running comparison of one output against the reference's. */
class OutputStats {
  constructor(name) {
    this.name = name;
    this.dot = 0;
    this.normA = 0;
    this.normB = 0;
    this.errSq = 0;
    this.maxAbsErr = 0;
    this.maxAbsRef = 0;
    this.cosineMin = Infinity;
    this.cosineMinSample = -1;
    this.shape = null;
  }

  // Per-sample cosine: rows along the first axis when it is the batch axis, else the whole tensor.
  add(a, b, batchRows, firstSample) {
    if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) {
      throw new UsageError(`output '${this.name}': shape [${a.dims}] differs from the reference's [${b.dims}]`);
    }
    this.shape = a.dims.length > 0 && a.dims[0] === batchRows ? ['N', ...a.dims.slice(1)] : [...a.dims];
    const perSample = a.dims.length > 0 && a.dims[0] === batchRows;
    const n = a.data.length;
    const groups = perSample ? batchRows : 1;
    const per = groups > 0 ? n / groups : 0;
    for (let g = 0; g < groups; g++) {
      let dot = 0;
      let na = 0;
      let nb = 0;
      for (let k = g * per; k < (g + 1) * per; k++) {
        const x = Number(a.data[k]);
        const y = Number(b.data[k]);
        dot += x * y;
        na += x * x;
        nb += y * y;
        const e = Math.abs(x - y);
        if (!(e <= this.maxAbsErr)) this.maxAbsErr = e;  // NaN propagates
        if (Math.abs(y) > this.maxAbsRef) this.maxAbsRef = Math.abs(y);
        this.errSq += (x - y) * (x - y);
      }
      this.dot += dot;
      this.normA += na;
      this.normB += nb;
      const c = cosine(dot, na, nb);
      if (!(c >= this.cosineMin)) {
        this.cosineMin = c;
        this.cosineMinSample = perSample ? firstSample + g : -1;
      }
    }
  }

  result() {
    return {
      shape: this.shape,
      cosine_min: round(this.cosineMin),
      cosine_min_sample: this.cosineMinSample,
      cosine: round(cosine(this.dot, this.normA, this.normB)),
      // Signal-to-quantization-noise ratio; null when the outputs are identical (infinite).
      sqnr_db: this.errSq === 0 ? null : round(10 * Math.log10(this.normB / this.errSq)),
      max_abs_err: round(this.maxAbsErr),
      max_abs_ref: round(this.maxAbsRef),
    };
  }
}

// Two all-zero vectors are the same vector (cosine 1); one zero vector against a non-zero one: 0.
function cosine(dot, na, nb) {
  if (na === 0 && nb === 0) return 1;
  if (na === 0 || nb === 0) return 0;
  return dot / Math.sqrt(na * nb);
}

function round(v, digits = 7) {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'nan' : (v > 0 ? 'inf' : '-inf');
  return Number(v.toPrecision(digits));
}

function loadLabels(opts, samples) {
  let labels;
  if (opts.labels) labels = readNpy(opts.labels);
  else if (opts['labels-key']) labels = loadArray(opts.data, opts['labels-key']);
  else {
    const k = npzKeys(opts.data).find((x) => x === 'label' || x === 'labels');
    if (!k) return null;
    labels = loadArray(opts.data, k);
  }
  if (!/int/.test(labels.dtype)) throw new UsageError(`labels must be integers, got ${labels.dtype}`);
  if (labels.data.length < samples) {
    throw new UsageError(`${labels.data.length} labels for ${samples} samples`);
  }
  return Array.from(labels.data.subarray(0, samples), Number);
}

/** The batch to run: rows [begin, end), zero-padded to `fixed` rows when the model's batch is fixed. */
function batchTensor(ort, data, begin, end, fixed) {
  const view = rows(data, begin, end);
  if (!fixed || fixed === end - begin) return new ort.Tensor(view.dtype, view.data, view.shape);
  const padded = new view.data.constructor(fixed * rowSize(data.shape));
  padded.set(view.data);
  return new ort.Tensor(view.dtype, padded, [fixed, ...data.shape.slice(1)]);
}

async function main(argv) {
  const { opts, help } = (() => {
    const r = parseOptions(argv, SPEC);
    if (r.help) return { help: true };
    if (r.positional.length) throw new UsageError(`unexpected argument '${r.positional[0]}'`);
    return r;
  })();
  if (help) {
    console.log(USAGE);
    return 0;
  }
  if (!opts.model) throw new UsageError('--model is required');
  if (!opts.data) throw new UsageError('--data is required');
  if (opts.labels && opts['labels-key']) throw new UsageError('give --labels or --labels-key, not both');
  const batch = opts.batch ?? 256;
  const threads = opts.threads ?? 1;
  if (batch < 1 || threads < 1) throw new UsageError('--batch and --threads must be at least 1');

  const ort = await loadOrt();
  const session = await openSession(ort, opts.model, threads);
  const inputName = pickInput(session, opts.input, opts.model);
  const reference = opts.reference ? await openSession(ort, opts.reference, threads) : null;
  if (reference && !reference.inputNames.includes(inputName)) {
    throw new UsageError(`reference ${opts.reference} has no input '${inputName}'`);
  }

  const data = loadArray(opts.data, opts.key, [inputName, 'image', 'images', 'x']);
  if (data.shape.length < 1) throw new UsageError(`${opts.data}: a 0-d array has no samples`);
  const samples = Math.min(opts.samples ?? data.shape[0], data.shape[0]);
  if (samples < 1) throw new UsageError(`${opts.data}: no samples`);

  const meta = inputMeta(session, inputName);
  if (meta?.type && meta.type !== data.dtype) {
    throw new UsageError(`input '${inputName}' expects ${meta.type} but ${opts.data} holds ${data.dtype}`);
  }
  const dim0 = Array.isArray(meta?.shape) ? meta.shape[0] : undefined;
  const fixed = typeof dim0 === 'number' && dim0 > 0 ? dim0 : 0;
  const step = fixed || batch;

  const labels = loadLabels(opts, samples);
  const outputName = opts.output ?? session.outputNames[0];
  if (!session.outputNames.includes(outputName)) {
    throw new UsageError(`${opts.model} has no output '${outputName}' (outputs: ${session.outputNames.join(', ')})`);
  }
  if (reference && !reference.outputNames.includes(outputName)) {
    throw new UsageError(`reference ${opts.reference} has no output '${outputName}'`);
  }
  const compared = reference ? session.outputNames.filter((n) => reference.outputNames.includes(n)) : [];
  const stats = new Map(compared.map((n) => [n, new OutputStats(n)]));

  const count = { top1: 0, top5: 0, refTop1: 0, refTop5: 0, agree: 0 };
  const t0 = process.hrtime.bigint();
  for (let begin = 0; begin < samples; begin += step) {
    const end = Math.min(begin + step, samples);
    const n = end - begin;
    const feeds = { [inputName]: batchTensor(ort, data, begin, end, fixed) };
    const out = await session.run(feeds);
    const ref = reference ? await reference.run(feeds) : null;
    const scores = out[outputName];
    for (let r = 0; r < n; r++) {
      const s = rowView(scores, r);
      if (labels) {
        const rank = labelRank(s, labels[begin + r]);
        if (rank === 0) count.top1++;
        if (rank < TOP_K) count.top5++;
      }
      if (ref) {
        const rs = rowView(ref[outputName], r);
        if (argmax(s) === argmax(rs)) count.agree++;
        if (labels) {
          const rank = labelRank(rs, labels[begin + r]);
          if (rank === 0) count.refTop1++;
          if (rank < TOP_K) count.refTop5++;
        }
      }
    }
    for (const [name, st] of stats) {
      let a = out[name];
      let b = ref[name];
      if (fixed && n !== fixed && a.dims[0] === fixed) {  // drop the padding rows
        const cut = (t) => ({ dims: [n, ...t.dims.slice(1)], data: t.data.subarray(0, n * rowSize(t.dims)) });
        a = cut(a);
        b = cut(b);
      }
      st.add(a, b, n, begin);
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const pct = (k) => round((100 * k) / samples, 6);
  const result = {
    model: opts.model,
    data: opts.data,
    input: inputName,
    output: outputName,
    samples,
    batch: step,
    threads,
  };
  if (labels) {
    result.top1 = pct(count.top1);
    result.top5 = pct(count.top5);
    result.correct = count.top1;
  }
  if (reference) {
    result.reference = opts.reference;
    if (labels) {
      result.reference_top1 = pct(count.refTop1);
      result.reference_top5 = pct(count.refTop5);
      result.reference_correct = count.refTop1;
    }
    result.top1_agreement = pct(count.agree);
    result.outputs = Object.fromEntries([...stats].map(([n, st]) => [n, st.result()]));
    const main_ = result.outputs[outputName];
    result.cosine_min = main_.cosine_min;
    result.cosine = main_.cosine;
    result.sqnr_db = main_.sqnr_db;
    result.max_abs_err = main_.max_abs_err;
  }
  result.seconds = round(seconds, 4);
  console.log(JSON.stringify(result));
  await session.release();
  if (reference) await reference.release();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => {
    process.exitCode = reportError('accuracy.mjs', e);
  },
);
