#!/usr/bin/env node
// Compare the .npy files of two folders, file by file.
//
//   node tests/ort/compare_npy.mjs DIR_A DIR_B [--rtol R] [--atol A]
//   node tests/ort/compare_npy.mjs DIR_A DIR_B --exact
//   node tests/ort/compare_npy.mjs DIR_A DIR_B --max-rel X
//
// Both folders must hold the same set of *.npy names. B is the reference.
//   default / --rtol --atol  floats: |a-b| <= A + R*|b| element-wise
//                            (defaults R=1e-3, A=1e-4); ints/bools: exact
//   --exact                  same shape, dtype and data bytes
//   --max-rel X              floats: max|a-b| / max|b| <= X; ints/bools: exact
// Prints one line per file with the max abs difference and B's max abs value.
// Exit status: 0 all match, 1 a mismatch or a file missing on one side,
// 2 usage error or unreadable file.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, NpyError } from './npy.mjs';
import { compareArrays, formatShape } from './compare.mjs';

const USAGE = `usage: node tests/ort/compare_npy.mjs DIR_A DIR_B [--rtol R --atol A | --exact | --max-rel X]
  default       element-wise |a-b| <= atol + rtol*|b| (rtol 1e-3, atol 1e-4)
  --exact       identical shape, dtype and bytes
  --max-rel X   max|a-b| / max|b| <= X (relative to B's largest magnitude)
exit status: 0 match, 1 mismatch or missing file, 2 usage or read error`;

class UsageError extends Error {}

function parseArgs(argv) {
  const dirs = [];
  let rtol;
  let atol;
  let exact = false;
  let maxRel;
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    if (arg === '-h' || arg === '--help') return { help: true };
    if (!arg.startsWith('--')) {
      dirs.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === '--exact') {
      if (value !== undefined) throw new UsageError('--exact takes no value');
      exact = true;
      continue;
    }
    if (!['--rtol', '--atol', '--max-rel'].includes(arg)) throw new UsageError(`unknown option '${argv[i]}'`);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      value = argv[++i];
    }
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v) || v < 0) {
      throw new UsageError(`${arg} needs a non-negative number, got '${value}'`);
    }
    if (arg === '--rtol') rtol = v;
    else if (arg === '--atol') atol = v;
    else maxRel = v;
  }
  if (dirs.length !== 2) throw new UsageError(`expected two folders, got ${dirs.length}`);
  const tol = rtol !== undefined || atol !== undefined;
  if ([tol, exact, maxRel !== undefined].filter(Boolean).length > 1) {
    throw new UsageError('choose one of --rtol/--atol, --exact and --max-rel');
  }
  let mode;
  if (exact) mode = { kind: 'exact' };
  else if (maxRel !== undefined) mode = { kind: 'maxrel', maxRel };
  else mode = { kind: 'allclose', rtol: rtol ?? 1e-3, atol: atol ?? 1e-4 };
  return { dirA: dirs[0], dirB: dirs[1], mode };
}

function npyNames(dir) {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory`);
  return readdirSync(dir).filter((f) => f.endsWith('.npy') && statSync(join(dir, f)).isFile()).sort();
}

function describeMode(mode) {
  if (mode.kind === 'exact') return 'exact';
  if (mode.kind === 'maxrel') return `max-rel ${mode.maxRel}`;
  return `rtol ${mode.rtol} atol ${mode.atol}`;
}

function main(argv) {
  const opts = parseArgs(argv);
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const { dirA, dirB, mode } = opts;
  const namesA = npyNames(dirA);
  const namesB = npyNames(dirB);
  const setA = new Set(namesA);
  const setB = new Set(namesB);
  const all = [...new Set([...namesA, ...namesB])].sort();
  if (all.length === 0) throw new UsageError(`no .npy files in ${dirA} or ${dirB}`);

  let failed = 0;
  for (const name of all) {
    if (!setA.has(name) || !setB.has(name)) {
      failed++;
      console.log(`${name}: MISSING in ${setA.has(name) ? dirB : dirA}`);
      continue;
    }
    const a = readNpy(join(dirA, name));
    const b = readNpy(join(dirB, name));
    const r = compareArrays(a, b, mode);
    const stats = Number.isNaN(r.maxAbsDiff)
      ? `shape ${formatShape(a.shape)} ${a.dtype}`
      : `max_abs_diff=${r.maxAbsDiff} max_abs_b=${r.maxAbsB}` +
        (r.relative !== undefined ? ` rel=${r.relative}` : '');
    if (r.ok) {
      console.log(`${name}: ok ${stats}`);
    } else {
      failed++;
      console.log(`${name}: MISMATCH ${stats}: ${r.reason}`);
    }
  }
  const summary = `compare_npy: ${all.length} file(s), ${failed} mismatched or missing (${describeMode(mode)})`;
  if (failed > 0) {
    console.error(summary);
    return 1;
  }
  console.log(summary);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`compare_npy.mjs: ${e.message}\n${USAGE}`);
  } else if (e instanceof NpyError) {
    console.error(`compare_npy.mjs: ${e.message}`);
  } else {
    console.error(`compare_npy.mjs: ${e?.stack ?? e}`);
  }
  process.exitCode = 2;
}
