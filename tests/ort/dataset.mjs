// Shared by accuracy.mjs and latency.mjs: load a data array from .npy / .npz,
// take rows of it, open an ONNX Runtime session the way every measurement here
// does, and small argument / statistics helpers.

import { existsSync } from 'node:fs';
import { readNpy, NpyError } from './npy.mjs';
import { readNpzArray, readNpzKeys } from './npz.mjs';

export class UsageError extends Error {}

/**
 * Load one array. A .npy file is the array; for a .npz, `key` names the member,
 * else the first of `preferredKeys` that exists, else the only member.
 */
export function loadArray(path, key, preferredKeys = []) {
  if (!existsSync(path)) throw new UsageError(`data file ${path} does not exist`);
  if (!path.endsWith('.npz')) {
    if (key) throw new UsageError(`${path}: a key (${key}) only applies to .npz files`);
    return readNpy(path);
  }
  if (key) return readNpzArray(path, key);
  const keys = readNpzKeys(path);
  const found = preferredKeys.find((k) => keys.includes(k));
  if (found) return readNpzArray(path, found);
  if (keys.length === 1) return readNpzArray(path, keys[0]);
  throw new UsageError(`${path} has several arrays (${keys.join(', ')}); say which with --key`);
}

/** The keys of a .npz (empty for anything else). */
export function npzKeys(path) {
  return path.endsWith('.npz') ? readNpzKeys(path) : [];
}

/** Elements per row (product of all dimensions but the first). */
export function rowSize(shape) {
  let n = 1;
  for (const d of shape.slice(1)) n *= d;
  return n;
}

/** Rows [begin, end) of an array as a view (no copy). */
export function rows(array, begin, end) {
  const per = rowSize(array.shape);
  return {
    dtype: array.dtype,
    shape: [end - begin, ...array.shape.slice(1)],
    data: array.data.subarray(begin * per, end * per),
  };
}

export async function loadOrt() {
  try {
    return await import('onnxruntime-node');
  } catch (e) {
    throw new UsageError(`cannot load onnxruntime-node (${e.message}); ` +
      'install it with: cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci');
  }
}

/**
 * A CPU session with every graph optimization on (ORT's default for deployed
 * models, and what fuses QDQ groups into integer kernels), `threads` intra-op
 * threads and one inter-op thread.
 */
export async function openSession(ort, path, threads) {
  if (!existsSync(path)) throw new UsageError(`model file ${path} does not exist`);
  try {
    return await ort.InferenceSession.create(path, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
  } catch (e) {
    throw new UsageError(`cannot load model ${path}: ${e.message}`);
  }
}

/** Metadata of a session input by name ({ type, shape } when ORT reports it). */
export function inputMeta(session, name) {
  if (!Array.isArray(session.inputMetadata)) return undefined;
  const i = session.inputNames.indexOf(name);
  return session.inputMetadata.find((m) => m.name === name) ?? session.inputMetadata[i];
}

/** The model input to feed: `name` if given (checked), else the only one. */
export function pickInput(session, name, path) {
  const names = [...session.inputNames];
  if (name) {
    if (!names.includes(name)) throw new UsageError(`${path} has no input '${name}' (inputs: ${names.join(', ')})`);
    return name;
  }
  if (names.length !== 1) {
    throw new UsageError(`${path} has ${names.length} inputs (${names.join(', ')}); these scripts feed one ` +
      'input, name it with --input');
  }
  return names[0];
}

/** The q-quantile (0..1) of sorted numbers, linear interpolation between ranks. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Minimal `--name value` / `--name=value` / positional parser. spec: name -> 'string'|'int'|'number'|'flag'. */
export function parseOptions(argv, spec) {
  const opts = {};
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '-h' || arg === '--help') return { help: true };
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    let value;
    const eq = arg.indexOf('=');
    if (eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const key = arg.slice(2);
    const kind = spec[key];
    if (!kind) throw new UsageError(`unknown option '${argv[i]}'`);
    if (kind === 'flag') {
      if (value !== undefined) throw new UsageError(`${arg} takes no value`);
      opts[key] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      value = argv[++i];
    }
    if (opts[key] !== undefined) throw new UsageError(`${arg} given twice`);
    if (kind === 'int') {
      const v = Number(value);
      if (value.trim() === '' || !Number.isInteger(v) || v < 0) {
        throw new UsageError(`${arg} needs a non-negative integer, got '${value}'`);
      }
      opts[key] = v;
    } else if (kind === 'number') {
      const v = Number(value);
      if (value.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${arg} needs a number, got '${value}'`);
      opts[key] = v;
    } else {
      opts[key] = value;
    }
  }
  return { opts, positional };
}

export function reportError(script, e) {
  const known = e instanceof UsageError || e instanceof NpyError;
  console.error(`${script}: ${known ? e.message : (e?.stack ?? e)}`);
  return 2;
}
