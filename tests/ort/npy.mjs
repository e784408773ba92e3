// Minimal reader and writer for NumPy's .npy format (versions 1.0, 2.0, 3.0).
//
// Supported: little-endian (or byte-order-free) C-ordered arrays of the dtypes
// f2 f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1. Arrays are represented as
//   { dtype, shape, data }
// where dtype is the ONNX Runtime tensor type name ('float32', 'int64', ...),
// shape is an array of non-negative integers and data is a typed array of the
// matching kind (float16 as raw bits in a Uint16Array, bool as a Uint8Array of
// 0/1, 64-bit integers as BigInt64Array/BigUint64Array).
//
// writeNpy/encodeNpy produce the same bytes as numpy.save for the same array.

import { readFileSync, writeFileSync } from 'node:fs';

// NumPy type code (without byte order) -> description of the element type.
const BY_CODE = {
  f2: { dtype: 'float16', size: 2, Array: Uint16Array },
  f4: { dtype: 'float32', size: 4, Array: Float32Array },
  f8: { dtype: 'float64', size: 8, Array: Float64Array },
  i1: { dtype: 'int8', size: 1, Array: Int8Array },
  u1: { dtype: 'uint8', size: 1, Array: Uint8Array },
  i2: { dtype: 'int16', size: 2, Array: Int16Array },
  u2: { dtype: 'uint16', size: 2, Array: Uint16Array },
  i4: { dtype: 'int32', size: 4, Array: Int32Array },
  u4: { dtype: 'uint32', size: 4, Array: Uint32Array },
  i8: { dtype: 'int64', size: 8, Array: BigInt64Array },
  u8: { dtype: 'uint64', size: 8, Array: BigUint64Array },
  b1: { dtype: 'bool', size: 1, Array: Uint8Array },
};

// ONNX Runtime type name -> NumPy type code.
const CODE_BY_DTYPE = Object.fromEntries(
  Object.entries(BY_CODE).map(([code, t]) => [t.dtype, code]));

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ARRAY_ALIGN = 64;
// numpy.save pads the header so that the first axis can grow to this many
// digits without rewriting the file; we copy that to match its bytes.
const GROWTH_AXIS_MAX_DIGITS = 21;

export class NpyError extends Error {}

/** Element size in bytes of an ORT dtype name, or undefined if unsupported. */
export function dtypeSize(dtype) {
  const code = CODE_BY_DTYPE[dtype];
  return code ? BY_CODE[code].size : undefined;
}

/** Typed array constructor for an ORT dtype name, or undefined. */
export function dtypeArray(dtype) {
  const code = CODE_BY_DTYPE[dtype];
  return code ? BY_CODE[code].Array : undefined;
}

/** Whether a dtype name is one the .npy code handles. */
export function isNpyDtype(dtype) {
  return dtype in CODE_BY_DTYPE;
}

/** The numpy descr string numpy.save writes for an ORT dtype name. */
export function npyDescr(dtype) {
  const code = CODE_BY_DTYPE[dtype];
  if (!code) throw new NpyError(`dtype ${dtype} cannot be stored in .npy by this tool`);
  return (BY_CODE[code].size === 1 ? '|' : '<') + code;
}

export function numElements(shape) {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------
// Header parsing: the header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// We parse the small subset of Python literal syntax numpy uses.

function parseHeaderDict(text) {
  let i = 0;
  const fail = (what) => {
    throw new NpyError(`bad .npy header (${what} at offset ${i}): ${JSON.stringify(text)}`);
  };
  const skipWs = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const expect = (ch) => {
    skipWs();
    if (text[i] !== ch) fail(`expected '${ch}'`);
    i++;
  };
  const parseString = () => {
    skipWs();
    const q = text[i];
    if (q !== "'" && q !== '"') fail('expected a string');
    i++;
    let s = '';
    while (i < text.length && text[i] !== q) {
      if (text[i] === '\\') {
        i++;
        if (i >= text.length) break;
      }
      s += text[i++];
    }
    if (text[i] !== q) fail('unterminated string');
    i++;
    return s;
  };
  const parseInt_ = () => {
    skipWs();
    const m = /^[0-9]+L?/.exec(text.slice(i));
    if (!m) fail('expected an integer');
    i += m[0].length;
    const v = Number(m[0].replace(/L$/, ''));
    if (!Number.isSafeInteger(v)) fail('integer too large');
    return v;
  };
  const parseValue = () => {
    skipWs();
    const c = text[i];
    if (c === "'" || c === '"') return parseString();
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items = [];
      for (;;) {
        skipWs();
        if (text[i] === close) { i++; break; }
        items.push(parseInt_());
        skipWs();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === close) { i++; break; }
        fail(`expected ',' or '${close}'`);
      }
      return items;
    }
    if (text.startsWith('True', i)) { i += 4; return true; }
    if (text.startsWith('False', i)) { i += 5; return false; }
    fail('unsupported value');
    return undefined;
  };

  const dict = {};
  expect('{');
  for (;;) {
    skipWs();
    if (text[i] === '}') { i++; break; }
    const key = parseString();
    expect(':');
    dict[key] = parseValue();
    skipWs();
    if (text[i] === ',') { i++; continue; }
    if (text[i] === '}') { i++; break; }
    fail("expected ',' or '}'");
  }
  skipWs();
  if (i !== text.length) fail('trailing characters');
  return dict;
}

/** Decode the bytes of a .npy file. `where` names it in error messages. */
export function decodeNpy(buf, where = '<buffer>') {
  const err = (msg) => new NpyError(`${where}: ${msg}`);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw err('not a .npy file (bad magic)');
  const major = buf[6];
  const minor = buf[7];
  let headerLen;
  let headerStart;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw err('truncated header');
    headerLen = buf.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw err(`unsupported .npy format version ${major}.${minor}`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > buf.length) throw err('truncated header');
  const header = buf.subarray(headerStart, dataStart).toString(major === 3 ? 'utf8' : 'latin1');

  let dict;
  try {
    dict = parseHeaderDict(header);
  } catch (e) {
    throw err(e.message);
  }
  const { descr, fortran_order: fortran, shape } = dict;
  if (typeof descr !== 'string') throw err('header has no string descr (structured dtypes are not supported)');
  if (typeof fortran !== 'boolean') throw err('header has no fortran_order');
  if (!Array.isArray(shape)) throw err('header has no shape');
  if (fortran) throw err('Fortran-ordered arrays are not supported; save with C order (np.ascontiguousarray)');

  const m = /^([<>|=]?)([a-z][0-9]+)$/.exec(descr);
  const t = m && BY_CODE[m[2]];
  if (!t) throw err(`unsupported dtype '${descr}' (supported: ${Object.keys(BY_CODE).join(' ')})`);
  const order = m[1];
  if (t.size > 1 && order !== '<' && !(order === '=' && isLittleEndianHost())) {
    throw err(`dtype '${descr}' is not little-endian; convert with arr.astype('<${m[2]}')`);
  }

  const count = numElements(shape);
  const nbytes = count * t.size;
  if (buf.length - dataStart < nbytes) {
    throw err(`truncated data: shape [${shape}] needs ${nbytes} bytes, file has ${buf.length - dataStart}`);
  }
  if (buf.length - dataStart > nbytes) {
    throw err(`${buf.length - dataStart - nbytes} unexpected trailing bytes after the array data`);
  }
  // Copy into a fresh, aligned buffer so the typed array view is legal.
  const bytes = new Uint8Array(nbytes);
  bytes.set(buf.subarray(dataStart, dataStart + nbytes));
  if (!isLittleEndianHost() && t.size > 1) swapBytes(Buffer.from(bytes.buffer), t.size);
  const data = new t.Array(bytes.buffer, 0, count);
  if (t.dtype === 'bool') {
    for (let k = 0; k < count; k++) {
      if (data[k] > 1) throw err(`bool element ${k} has byte value ${data[k]}`);
    }
  }
  return { dtype: t.dtype, shape: shape.slice(), data };
}

export function readNpy(path) {
  let buf;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new NpyError(`cannot read ${path}: ${e.message}`);
  }
  return decodeNpy(buf, path);
}

function isLittleEndianHost() {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

function swapBytes(b, size) {
  if (size === 2) b.swap16();
  else if (size === 4) b.swap32();
  else if (size === 8) b.swap64();
  return b;
}

function pythonTupleRepr(shape) {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** Encode an array as .npy bytes, exactly as numpy.save would. */
export function encodeNpy({ dtype, shape, data }) {
  const descr = npyDescr(dtype);
  const size = dtypeSize(dtype);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new NpyError(`invalid shape [${shape}]`);
  }
  const count = numElements(shape);
  if (data.length !== count) {
    throw new NpyError(`shape [${shape}] has ${count} elements but data has ${data.length}`);
  }

  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${pythonTupleRepr(shape)}, }`;
  if (shape.length > 0) {
    header += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  }
  // Version 1.0 has a 16-bit header length; fall back to 2.0 as numpy does.
  // (Our headers are pure ASCII, so version 3.0 is never needed.)
  let prefixLen = 10;
  let padLen = ARRAY_ALIGN - ((MAGIC.length + 4 + header.length + 1) % ARRAY_ALIGN);
  let major = 1;
  if (header.length + 1 + padLen > 0xffff) {
    major = 2;
    prefixLen = 12;
    padLen = ARRAY_ALIGN - ((MAGIC.length + 6 + header.length + 1) % ARRAY_ALIGN);
  }
  const fullHeader = header + ' '.repeat(padLen) + '\n';
  const prefix = Buffer.alloc(prefixLen);
  MAGIC.copy(prefix, 0);
  prefix[6] = major;
  prefix[7] = 0;
  if (major === 1) prefix.writeUInt16LE(fullHeader.length, 8);
  else prefix.writeUInt32LE(fullHeader.length, 8);

  let body = Buffer.from(data.buffer, data.byteOffset, count * size);
  if (!isLittleEndianHost() && size > 1) body = swapBytes(Buffer.from(body), size);
  return Buffer.concat([prefix, Buffer.from(fullHeader, 'latin1'), body]);
}

export function writeNpy(path, array) {
  writeFileSync(path, encodeNpy(array));
}
