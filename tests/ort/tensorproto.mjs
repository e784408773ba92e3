// Minimal decoder for ONNX TensorProto messages (protobuf wire format), as
// found in the input_N.pb / output_N.pb files of ONNX test data sets.
//
// Only the fields needed to rebuild a dense tensor are read:
//   1 dims (int64, repeated)       2 data_type (int32)
//   4 float_data (float, repeated) 5 int32_data (int32, repeated)
//   6 string_data (bytes, repeated) 7 int64_data (int64, repeated)
//   8 name (string)                9 raw_data (bytes)
//   10 double_data (double, rep.)  11 uint64_data (uint64, repeated)
//   14 data_location (enum; EXTERNAL is rejected)
// Repeated numeric fields may be packed or unpacked. Other fields are skipped.
//
// The result has the same shape as an array from npy.mjs:
//   { name, dtype, shape, data }
// with dtype an ONNX Runtime tensor type name; string tensors have an array
// of JS strings as data.

import { readFileSync } from 'node:fs';

export class TensorProtoError extends Error {}

// ONNX TensorProto.DataType -> { dtype: ORT name, size, Array, field: where
// the non-raw values live }.
const DATA_TYPES = {
  1: { dtype: 'float32', size: 4, Array: Float32Array, field: 'float' },
  2: { dtype: 'uint8', size: 1, Array: Uint8Array, field: 'int32' },
  3: { dtype: 'int8', size: 1, Array: Int8Array, field: 'int32' },
  4: { dtype: 'uint16', size: 2, Array: Uint16Array, field: 'int32' },
  5: { dtype: 'int16', size: 2, Array: Int16Array, field: 'int32' },
  6: { dtype: 'int32', size: 4, Array: Int32Array, field: 'int32' },
  7: { dtype: 'int64', size: 8, Array: BigInt64Array, field: 'int64' },
  8: { dtype: 'string', size: 0, Array: null, field: 'string' },
  9: { dtype: 'bool', size: 1, Array: Uint8Array, field: 'int32' },
  10: { dtype: 'float16', size: 2, Array: Uint16Array, field: 'int32' },
  11: { dtype: 'float64', size: 8, Array: Float64Array, field: 'double' },
  12: { dtype: 'uint32', size: 4, Array: Uint32Array, field: 'uint64' },
  13: { dtype: 'uint64', size: 8, Array: BigUint64Array, field: 'uint64' },
};

const DATA_TYPE_NAMES = {
  14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16', 17: 'FLOAT8E4M3FN',
  18: 'FLOAT8E4M3FNUZ', 19: 'FLOAT8E5M2', 20: 'FLOAT8E5M2FNUZ', 21: 'UINT4',
  22: 'INT4', 23: 'FLOAT4E2M1',
};

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Sequential reader over protobuf wire-format bytes. */
class Reader {
  constructor(buf, where) {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
    this.where = where;
  }

  fail(msg) {
    throw new TensorProtoError(`${this.where}: ${msg} (at byte ${this.pos})`);
  }

  done() {
    return this.pos >= this.end;
  }

  /** A varint as an unsigned 64-bit BigInt. */
  varint() {
    let result = 0n;
    let shift = 0n;
    for (let k = 0; k < 10; k++) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    this.fail('varint longer than 10 bytes');
    return 0n;
  }

  /** A varint that must fit a non-negative safe integer (lengths, tags). */
  smallVarint() {
    const v = this.varint();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('varint too large');
    return Number(v);
  }

  bytes(n) {
    if (n > this.end - this.pos) this.fail(`length ${n} runs past the end of the message`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  lengthDelimited() {
    return this.bytes(this.smallVarint());
  }

  skip(wire) {
    switch (wire) {
      case WIRE_VARINT: this.varint(); break;
      case WIRE_I64: this.bytes(8); break;
      case WIRE_LEN: this.lengthDelimited(); break;
      case WIRE_I32: this.bytes(4); break;
      default: this.fail(`unsupported wire type ${wire}`);
    }
  }
}

// Read one element or a packed run of a repeated scalar field, pushing the
// values (BigInts for varints, Numbers for fixed-width) into `out`.
function readRepeated(r, wire, kind, out) {
  const readOne = (rr) => {
    if (kind === 'varint') return rr.varint();
    const b = rr.bytes(kind === 'fixed32' ? 4 : 8);
    return kind === 'fixed32' ? b.readFloatLE(0) : b.readDoubleLE(0);
  };
  const scalarWire = kind === 'varint' ? WIRE_VARINT : kind === 'fixed32' ? WIRE_I32 : WIRE_I64;
  if (wire === WIRE_LEN) {
    const inner = new Reader(r.lengthDelimited(), r.where);
    while (!inner.done()) out.push(readOne(inner));
  } else if (wire === scalarWire) {
    out.push(readOne(r));
  } else {
    r.fail(`unexpected wire type ${wire} for a repeated ${kind} field`);
  }
}

/** Decode TensorProto bytes. `where` names the source in error messages. */
export function decodeTensorProto(buf, where = '<buffer>') {
  const r = new Reader(buf, where);
  const dims = [];
  let dataType = 0;
  let name = '';
  let raw = null;
  let dataLocation = 0;
  const floats = [];
  const int32s = [];
  const int64s = [];
  const doubles = [];
  const uint64s = [];
  const strings = [];

  while (!r.done()) {
    const tag = r.smallVarint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    switch (field) {
      case 1: readRepeated(r, wire, 'varint', dims); break;
      case 2:
        if (wire !== WIRE_VARINT) r.fail('data_type must be a varint');
        dataType = Number(BigInt.asIntN(32, r.varint()));
        break;
      case 4: readRepeated(r, wire, 'fixed32', floats); break;
      case 5: readRepeated(r, wire, 'varint', int32s); break;
      case 6:
        if (wire !== WIRE_LEN) r.fail('string_data must be length-delimited');
        strings.push(Buffer.from(r.lengthDelimited()).toString('utf8'));
        break;
      case 7: readRepeated(r, wire, 'varint', int64s); break;
      case 8:
        if (wire !== WIRE_LEN) r.fail('name must be length-delimited');
        name = Buffer.from(r.lengthDelimited()).toString('utf8');
        break;
      case 9:
        if (wire !== WIRE_LEN) r.fail('raw_data must be length-delimited');
        raw = r.lengthDelimited();
        break;
      case 10: readRepeated(r, wire, 'fixed64', doubles); break;
      case 11: readRepeated(r, wire, 'varint', uint64s); break;
      case 14:
        if (wire !== WIRE_VARINT) r.fail('data_location must be a varint');
        dataLocation = Number(r.varint());
        break;
      default:
        if (field === 0) r.fail('field number 0 is invalid');
        r.skip(wire);
    }
  }

  const fail = (msg) => {
    throw new TensorProtoError(`${where}: tensor '${name}': ${msg}`);
  };
  if (dataLocation === 1) fail('external data is not supported');
  const t = DATA_TYPES[dataType];
  if (!t) {
    const label = DATA_TYPE_NAMES[dataType] ?? (dataType === 0 ? 'UNDEFINED' : `data_type ${dataType}`);
    fail(`unsupported data type ${label}`);
  }
  const shape = dims.map((d) => {
    const v = BigInt.asIntN(64, d);
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`invalid dimension ${v}`);
    return Number(v);
  });
  let count = 1;
  for (const d of shape) count *= d;
  if (!Number.isSafeInteger(count)) fail(`shape [${shape}] is too large`);

  let data;
  if (t.dtype === 'string') {
    if (raw !== null) fail('string tensors cannot use raw_data');
    data = strings;
  } else if (raw !== null) {
    if (raw.length !== count * t.size) {
      fail(`raw_data has ${raw.length} bytes, shape [${shape}] of ${t.dtype} needs ${count * t.size}`);
    }
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1 && t.size > 1) {
      const b = Buffer.from(copy.buffer);
      if (t.size === 2) b.swap16(); else if (t.size === 4) b.swap32(); else b.swap64();
    }
    data = new t.Array(copy.buffer, 0, count);
  } else {
    let src;
    switch (t.field) {
      case 'float': src = floats; break;
      case 'double': src = doubles; break;
      case 'int32': src = int32s; break;
      case 'int64': src = int64s; break;
      case 'uint64': src = uint64s; break;
      default: src = [];
    }
    if (src.length !== count) {
      fail(`has ${src.length} values in its ${t.field}_data field, shape [${shape}] needs ${count}`);
    }
    data = new t.Array(count);
    for (let k = 0; k < count; k++) {
      const v = src[k];
      switch (t.field) {
        case 'float':
        case 'double':
          data[k] = v;
          break;
        case 'int32': {
          // int32_data carries narrower integers, bools and float16 bits.
          const n = Number(BigInt.asIntN(32, v));
          if (t.dtype === 'bool') data[k] = n !== 0 ? 1 : 0;
          else data[k] = n; // typed array assignment wraps to the element width
          break;
        }
        case 'int64':
          data[k] = BigInt.asIntN(64, v);
          break;
        case 'uint64':
          if (t.dtype === 'uint64') data[k] = BigInt.asUintN(64, v);
          else data[k] = Number(BigInt.asUintN(32, v));
          break;
        default:
          break;
      }
    }
  }
  if (t.dtype === 'string' && data.length !== count) {
    fail(`has ${data.length} strings, shape [${shape}] needs ${count}`);
  }
  return { name, dtype: t.dtype, shape, data };
}

export function readTensorProto(path) {
  let buf;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new TensorProtoError(`cannot read ${path}: ${e.message}`);
  }
  return decodeTensorProto(buf, path);
}
