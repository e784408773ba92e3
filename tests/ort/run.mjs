#!/usr/bin/env node
// Run an ONNX model once with ONNX Runtime (CPU) and save or check its outputs.
//
//   node tests/ort/run.mjs --model M.onnx [--input NAME=FILE.npy ...]
//       [--input FILE.npy] [--input-dir TEST_DATA_SET_DIR] [--output-dir DIR]
//       [--threads N] [--expected-dir TEST_DATA_SET_DIR] [--rtol R] [--atol A]
//
// Exit status: 0 success, 1 outputs differ from --expected-dir, 2 usage or
// runtime error. See README.md beside this file.

import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, writeNpy, isNpyDtype, NpyError } from './npy.mjs';
import { readTensorProto, TensorProtoError } from './tensorproto.mjs';
import { compareArrays, formatShape } from './compare.mjs';

const USAGE = `usage: node tests/ort/run.mjs --model M.onnx [options]
  --input NAME=FILE.npy   feed model input NAME from FILE.npy (repeatable)
  --input FILE.npy        feed the only input of a single-input model
  --input-dir DIR         feed inputs from DIR/input_N.pb (ONNX test data set)
  --output-dir DIR        write each output to DIR/<name>.npy
  --threads N             intra-op threads (default 1)
  --repeat N              run N more times and print the median run time (ms) on stderr
  --expected-dir DIR      compare outputs with DIR/output_N.pb; exit 1 on mismatch
  --rtol R  --atol A      float tolerance |a-e| <= A + R*|e| (default 1e-3, 1e-4)
exit status: 0 ok, 1 mismatch with --expected-dir, 2 usage or runtime error`;

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = { inputs: [], threads: 1, rtol: 1e-3, atol: 1e-4, repeat: 0 };
  const valueOpts = new Set(['--model', '--input', '--input-dir', '--output-dir',
    '--threads', '--expected-dir', '--rtol', '--atol', '--repeat']);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    if (arg === '-h' || arg === '--help') {
      opts.help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (!valueOpts.has(arg)) throw new UsageError(`unknown argument '${argv[i]}'`);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      value = argv[++i];
    }
    const number = (what, min) => {
      const v = Number(value);
      if (value.trim() === '' || !Number.isFinite(v) || v < min) {
        throw new UsageError(`${arg} needs ${what}, got '${value}'`);
      }
      return v;
    };
    const once = (key) => {
      if (opts[key] !== undefined) throw new UsageError(`${arg} given twice`);
      opts[key] = value;
    };
    switch (arg) {
      case '--model': once('model'); break;
      case '--input': opts.inputs.push(value); break;
      case '--input-dir': once('inputDir'); break;
      case '--output-dir': once('outputDir'); break;
      case '--expected-dir': once('expectedDir'); break;
      case '--threads': {
        const v = number('a positive integer', 1);
        if (!Number.isInteger(v)) throw new UsageError(`--threads needs a positive integer, got '${value}'`);
        opts.threads = v;
        break;
      }
      case '--repeat': {
        const v = number('a non-negative integer', 0);
        if (!Number.isInteger(v)) throw new UsageError(`--repeat needs a non-negative integer, got '${value}'`);
        opts.repeat = v;
        break;
      }
      case '--rtol': opts.rtol = number('a non-negative number', 0); break;
      case '--atol': opts.atol = number('a non-negative number', 0); break;
      default: break;
    }
  }
  if (!opts.help && !opts.model) throw new UsageError('--model is required');
  return opts;
}

/** Output file name for a tensor name: anything outside [A-Za-z0-9_.-] -> '_'. */
function safeFileName(name) {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** The N-indexed files PREFIX_N.pb in dir, sorted by N. */
function numberedPb(dir, prefix) {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UsageError(`${dir} is not a directory`);
  }
  const re = new RegExp(`^${prefix}_(\\d+)\\.pb$`);
  return readdirSync(dir)
    .map((f) => [f, re.exec(f)])
    .filter(([, m]) => m)
    .map(([f, m]) => ({ index: Number(m[1]), path: join(dir, f) }))
    .sort((a, b) => a.index - b.index);
}

/**
 * Read DIR/PREFIX_N.pb tensors and name each: its own name when that is one
 * of `names`, otherwise names[N].
 */
function readTestDataSet(dir, prefix, names, what) {
  const files = numberedPb(dir, prefix);
  if (files.length === 0 && names.length > 0) throw new UsageError(`no ${prefix}_N.pb files in ${dir}`);
  const out = new Map();
  for (const { index, path } of files) {
    const t = readTensorProto(path);
    let name = t.name;
    if (!names.includes(name)) {
      if (index >= names.length) {
        throw new UsageError(`${path}: tensor name '${t.name}' is not a model ${what} and the model has only ` +
          `${names.length} ${what}s (${names.join(', ')})`);
      }
      name = names[index];
    }
    if (out.has(name)) throw new UsageError(`${path}: ${what} '${name}' given by two files in ${dir}`);
    out.set(name, { array: t, source: path });
  }
  return out;
}

function checkAgainstMetadata(name, array, source, meta) {
  if (!meta || meta.isTensor === false) return;
  if (meta.type && meta.type !== array.dtype) {
    throw new UsageError(`input '${name}' expects ${meta.type} but ${source} holds ${array.dtype}`);
  }
  if (Array.isArray(meta.shape)) {
    const expected = meta.shape;
    const got = array.shape;
    const dimsOk = expected.length === got.length &&
      expected.every((d, i) => typeof d !== 'number' || d < 0 || d === got[i]);
    if (!dimsOk) {
      const want = `[${expected.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d || '?'))).join(',')}]`;
      throw new UsageError(`input '${name}' expects shape ${want} but ${source} has shape ${formatShape(got)}`);
    }
  }
}

async function main(argv) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`run.mjs: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (!existsSync(opts.model)) throw new UsageError(`model file ${opts.model} does not exist`);

  let ort;
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    throw new UsageError(`cannot load onnxruntime-node (${e.message}); ` +
      'install it with: cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci');
  }

  let session;
  try {
    session = await ort.InferenceSession.create(opts.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
  } catch (e) {
    throw new UsageError(`cannot load model ${opts.model}: ${e.message}`);
  }

  const inputNames = [...session.inputNames];
  const outputNames = [...session.outputNames];
  const inputMeta = new Map();
  if (Array.isArray(session.inputMetadata)) {
    session.inputMetadata.forEach((m, i) => inputMeta.set(m.name ?? inputNames[i], m));
  }

  for (const [name, m] of inputMeta) {
    if (m.isTensor === false) {
      throw new UsageError(`model input '${name}' is not a tensor (a sequence, map or optional); ` +
        'run.mjs feeds tensors only');
    }
  }

  // Gather the feeds: --input-dir first, then --input (which override it).
  const feeds = opts.inputDir ? readTestDataSet(opts.inputDir, 'input', inputNames, 'input') : new Map();
  const explicit = new Set();
  for (const spec of opts.inputs) {
    let name;
    let file;
    const eq = spec.indexOf('=');
    const prefix = eq > 0 ? spec.slice(0, eq) : '';
    if (eq > 0 && (inputNames.includes(prefix) || !existsSync(spec))) {
      name = prefix;
      file = spec.slice(eq + 1);
      if (!inputNames.includes(name)) {
        throw new UsageError(`--input ${spec}: the model has no input '${name}' (inputs: ${inputNames.join(', ')})`);
      }
    } else {
      file = spec;
      if (inputNames.length !== 1) {
        throw new UsageError(`--input ${spec}: a bare FILE.npy needs a single-input model, this one has ` +
          `${inputNames.length} inputs (${inputNames.join(', ')}); use --input NAME=FILE.npy`);
      }
      name = inputNames[0];
    }
    if (explicit.has(name)) throw new UsageError(`input '${name}' given twice with --input`);
    explicit.add(name);
    feeds.set(name, { array: readNpy(file), source: file });
  }
  const missing = inputNames.filter((n) => !feeds.has(n));
  if (missing.length > 0) {
    throw new UsageError(`no value for model input(s) ${missing.map((n) => `'${n}'`).join(', ')}; ` +
      'use --input NAME=FILE.npy or --input-dir');
  }

  const ortFeeds = {};
  for (const [name, { array, source }] of feeds) {
    checkAgainstMetadata(name, array, source, inputMeta.get(name));
    try {
      ortFeeds[name] = new ort.Tensor(array.dtype, array.data, array.shape);
    } catch (e) {
      throw new UsageError(`input '${name}' from ${source}: ${e.message}`);
    }
  }

  let results;
  try {
    results = await session.run(ortFeeds);
    // --repeat N: N more runs after the first, median in-process time on stderr (benchmarks).
    if (opts.repeat > 0) {
      const times = [];
      for (let r = 0; r < opts.repeat; r++) {
        const t0 = process.hrtime.bigint();
        await session.run(ortFeeds);
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      times.sort((a, b) => a - b);
      const mid = times.length >> 1;
      const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
      process.stderr.write(`run time: median ${median.toFixed(3)} ms over ${times.length} runs\n`);
    }
  } catch (e) {
    throw new UsageError(`inference failed: ${e.message}`);
  }

  const outputs = new Map();
  for (const name of outputNames) {
    const t = results[name];
    if (!t) throw new UsageError(`ONNX Runtime returned no value for output '${name}'`);
    outputs.set(name, { dtype: t.type, shape: [...t.dims], data: t.data });
  }

  if (opts.outputDir) {
    mkdirSync(opts.outputDir, { recursive: true });
    const used = new Map();
    for (const [name, array] of outputs) {
      const file = `${safeFileName(name)}.npy`;
      if (used.has(file)) {
        throw new UsageError(`outputs '${used.get(file)}' and '${name}' would both be written to ${file}`);
      }
      used.set(file, name);
      if (!isNpyDtype(array.dtype)) {
        throw new UsageError(`output '${name}' has type ${array.dtype}, which cannot be written as .npy`);
      }
      writeNpy(join(opts.outputDir, file), array);
    }
  }
  for (const [name, array] of outputs) {
    console.log(`${name} shape=${formatShape(array.shape)} dtype=${array.dtype}`);
  }

  await session.release();

  if (!opts.expectedDir) return 0;
  const expected = readTestDataSet(opts.expectedDir, 'output', outputNames, 'output');
  let failed = 0;
  for (const [name, { array: want, source }] of expected) {
    const got = outputs.get(name);
    const mode = { kind: 'allclose', rtol: opts.rtol, atol: opts.atol };
    const r = compareArrays(got, want, mode);
    if (r.ok) {
      console.error(`check ${name}: ok (max abs diff ${r.maxAbsDiff}, max abs expected ${r.maxAbsB})`);
    } else {
      failed++;
      console.error(`check ${name}: MISMATCH with ${source}: ${r.reason}`);
    }
  }
  if (failed > 0) {
    console.error(`run.mjs: ${failed} of ${expected.size} outputs differ from ${opts.expectedDir}`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => {
    const known = e instanceof UsageError || e instanceof NpyError || e instanceof TensorProtoError;
    console.error(`run.mjs: ${known ? e.message : (e?.stack ?? e)}`);
    process.exitCode = 2;
  },
);
