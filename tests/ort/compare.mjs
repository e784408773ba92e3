// Element-wise comparison of two arrays in the { dtype, shape, data } form
// used by npy.mjs and tensorproto.mjs.
//
// Modes:
//   { kind: 'allclose', rtol, atol }  floats: |a-b| <= atol + rtol*|b|;
//                                     integers and bools: exact.
//   { kind: 'exact' }                 same dtype, shape and bytes.
//   { kind: 'maxrel', maxRel }        floats: max|a-b| / max|b| <= maxRel;
//                                     integers and bools: exact.
// In every mode NaN matches only NaN and an infinity only the same infinity.
// Two float arrays of different float dtypes may be compared with allclose or
// maxrel; any other dtype difference is a mismatch.

const FLOAT_DTYPES = new Set(['float16', 'float32', 'float64']);

export function isFloatDtype(dtype) {
  return FLOAT_DTYPES.has(dtype);
}

/** IEEE half-precision bits -> JS number. */
export function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The i-th element of an array as a JS number (or BigInt for 64-bit ints). */
function elementGetter(arr) {
  if (arr.dtype === 'float16') return (i) => halfToFloat(arr.data[i]);
  return (i) => arr.data[i];
}

function sameShape(a, b) {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

export function formatShape(shape) {
  return `[${shape.join(',')}]`;
}

function bytesOf(arr) {
  return Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
}

function fmt(v) {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return JSON.stringify(v);
  return Number.isInteger(v) || !Number.isFinite(v) ? String(v) : v.toPrecision(8);
}

/**
 * Compare `a` (actual) with `b` (reference). Returns
 *   { ok, reason, maxAbsDiff, maxAbsB, mismatches, count }
 * where reason explains a failure and mismatches counts failing elements.
 */
export function compareArrays(a, b, mode) {
  const result = { ok: false, reason: '', maxAbsDiff: NaN, maxAbsB: NaN, mismatches: 0, count: 0 };
  if (!sameShape(a, b)) {
    result.reason = `shape ${formatShape(a.shape)} != ${formatShape(b.shape)}`;
    return result;
  }
  const floats = isFloatDtype(a.dtype) && isFloatDtype(b.dtype);
  if (a.dtype !== b.dtype && (mode.kind === 'exact' || !floats)) {
    result.reason = `dtype ${a.dtype} != ${b.dtype}`;
    return result;
  }
  const n = b.data.length;
  result.count = n;

  if (a.dtype === 'string') {
    let first = -1;
    for (let i = 0; i < n; i++) {
      if (a.data[i] !== b.data[i]) {
        result.mismatches++;
        if (first < 0) first = i;
      }
    }
    result.ok = result.mismatches === 0;
    if (!result.ok) {
      result.reason = `${result.mismatches}/${n} strings differ; first at flat index ${first}: ` +
        `${fmt(a.data[first])} vs ${fmt(b.data[first])}`;
    }
    return result;
  }

  const getA = elementGetter(a);
  const getB = elementGetter(b);
  let maxAbsDiff = 0;
  let maxAbsB = 0;
  let first = -1;
  const tolerant = floats && mode.kind === 'allclose';
  for (let i = 0; i < n; i++) {
    const x = getA(i);
    const y = getB(i);
    let diff;
    let bad;
    if (typeof x === 'bigint' || typeof y === 'bigint') {
      const d = BigInt(x) - BigInt(y);
      diff = Math.abs(Number(d));
      bad = d !== 0n;
      const ay = Math.abs(Number(y));
      if (ay > maxAbsB) maxAbsB = ay;
    } else if (Number.isFinite(x) && Number.isFinite(y)) {
      diff = Math.abs(x - y);
      const ay = Math.abs(y);
      if (ay > maxAbsB) maxAbsB = ay;
      if (tolerant) bad = !(diff <= mode.atol + mode.rtol * ay);
      else if (floats && mode.kind === 'maxrel') bad = false; // judged on the maxima below
      else bad = !Object.is(x, y);
    } else {
      // NaN matches NaN, an infinity matches the same infinity.
      const same = (Number.isNaN(x) && Number.isNaN(y)) || x === y;
      diff = same ? 0 : Infinity;
      bad = !same;
    }
    if (diff > maxAbsDiff) maxAbsDiff = diff;
    if (bad) {
      result.mismatches++;
      if (first < 0) first = i;
    }
  }
  result.maxAbsDiff = maxAbsDiff;
  result.maxAbsB = maxAbsB;

  if (mode.kind === 'exact') {
    result.ok = bytesOf(a).equals(bytesOf(b));
    if (!result.ok) {
      result.reason = first >= 0
        ? `${result.mismatches}/${n} elements differ; first at flat index ${first}: ${fmt(getA(first))} vs ${fmt(getB(first))}`
        : 'bytes differ (NaN payloads)';
    }
    return result;
  }

  if (result.mismatches > 0) {
    const what = tolerant
      ? `outside atol=${mode.atol} + rtol=${mode.rtol}*|b|`
      : floats ? 'non-finite and different' : 'different (integers must match exactly)';
    result.reason = `${result.mismatches}/${n} elements ${what}; first at flat index ${first}: ` +
      `${fmt(getA(first))} vs ${fmt(getB(first))}`;
    return result;
  }
  if (mode.kind === 'maxrel' && floats) {
    const rel = maxAbsB > 0 ? maxAbsDiff / maxAbsB : maxAbsDiff > 0 ? Infinity : 0;
    result.relative = rel;
    if (!(rel <= mode.maxRel)) {
      result.reason = `max|a-b|/max|b| = ${fmt(rel)} > ${mode.maxRel}`;
      return result;
    }
  }
  result.ok = true;
  return result;
}
