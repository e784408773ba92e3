#!/usr/bin/env node
// Deterministically generate tests/data/silero_vad/input.npy: one 512-sample
// (32 ms at 16 kHz) float32 audio frame, shape [1, 512], made of a few sines
// with a slow amplitude envelope plus seeded pseudo-random noise.
//
//   node tests/data/silero_vad/make_inputs.mjs            write input.npy
//   node tests/data/silero_vad/make_inputs.mjs --check    exit 1 if input.npy differs
//   node tests/data/silero_vad/make_inputs.mjs --expected also rerun the model
//       with tests/ort/run.mjs (1 thread) and rewrite expected_ort/*.npy
//
// Apart from IEEE-exact arithmetic only Math.sin is used, which V8 computes
// with its own fdlibm port, so the bytes do not depend on the platform.
// The other inputs (h.npy, c.npy: zeros [2,1,64] float32; sr.npy: int64
// scalar 16000) are fixed files kept beside this script.

import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeNpy, writeNpy } from '../../ort/npy.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..', '..');
const SAMPLE_RATE = 16000;
const FRAME = 512;
const SEED = 0x5eed_2024;

// mulberry32: a tiny 32-bit PRNG; returns floats in [0, 1).
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeFrame() {
  const rand = mulberry32(SEED);
  // (frequency in Hz, amplitude, phase in radians): a voiced-speech-like mix
  // of a low fundamental and a few formant-ish partials.
  const partials = [
    [140, 0.30, 0.0],
    [280, 0.18, 0.7],
    [720, 0.10, 1.9],
    [1230, 0.06, 2.6],
    [2550, 0.03, 0.4],
  ];
  const data = new Float32Array(FRAME);
  for (let n = 0; n < FRAME; n++) {
    const t = n / SAMPLE_RATE;
    let v = 0;
    for (const [f, amp, phase] of partials) v += amp * Math.sin(2 * Math.PI * f * t + phase);
    // Rises from 0.6 to 1.0 over the frame.
    const envelope = 0.6 + 0.4 * (n / (FRAME - 1));
    // Uniform noise in [-0.02, 0.02).
    const noise = (rand() * 2 - 1) * 0.02;
    data[n] = Math.fround(v * envelope + noise);
  }
  return { dtype: 'float32', shape: [1, FRAME], data };
}

function main(args) {
  const unknown = args.filter((a) => a !== '--check' && a !== '--expected');
  if (unknown.length > 0) {
    console.error(`make_inputs.mjs: unknown argument(s) ${unknown.join(' ')}\n` +
      'usage: node tests/data/silero_vad/make_inputs.mjs [--check | --expected]');
    return 2;
  }
  const inputPath = join(HERE, 'input.npy');
  const frame = makeFrame();
  if (args.includes('--check')) {
    let current;
    try {
      current = readFileSync(inputPath);
    } catch (e) {
      console.error(`make_inputs.mjs: cannot read ${inputPath}: ${e.message}`);
      return 1;
    }
    if (!encodeNpy(frame).equals(current)) {
      console.error(`make_inputs.mjs: ${inputPath} differs from what this script generates`);
      return 1;
    }
    console.log(`${inputPath} is up to date`);
    return 0;
  }

  writeNpy(inputPath, frame);
  console.log(`wrote ${inputPath}`);
  if (!args.includes('--expected')) return 0;

  const run = spawnSync(process.execPath, [
    join(REPO, 'tests', 'ort', 'run.mjs'),
    '--model', join(REPO, 'models', 'third_party', 'silero_vad.onnx'),
    '--input', `input=${inputPath}`,
    '--input', `sr=${join(HERE, 'sr.npy')}`,
    '--input', `h=${join(HERE, 'h.npy')}`,
    '--input', `c=${join(HERE, 'c.npy')}`,
    '--threads', '1',
    '--output-dir', join(HERE, 'expected_ort'),
  ], { stdio: 'inherit' });
  if (run.status !== 0) {
    console.error(`make_inputs.mjs: run.mjs failed (status ${run.status ?? run.signal})`);
    return 2;
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
