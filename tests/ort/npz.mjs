// Reader for NumPy's .npz archives (numpy.savez / numpy.savez_compressed): a zip
// file whose members are KEY.npy. Members may be stored or deflated; zip64 size
// fields (numpy writes members with force_zip64) are understood. Each array is
// decoded with npy.mjs, so the same dtypes are supported.
//
//   readNpz(path)          -> Map(key -> { dtype, shape, data })
//   readNpzKeys(path)      -> [key, ...] without decoding any member
//   readNpzArray(path, k)  -> { dtype, shape, data } of one member

import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { decodeNpy, NpyError } from './npy.mjs';

const EOCD_SIG = 0x06054b50;
const ZIP64_EOCD_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const ZIP64_EXTRA_ID = 0x0001;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
// End-of-central-directory record: 22 bytes plus a comment of up to 65535.
const EOCD_MIN = 22;
const EOCD_MAX_SEARCH = EOCD_MIN + 0xffff;

function readU64(buf, off) {
  const v = buf.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new NpyError(`zip64 field too large (${v})`);
  return Number(v);
}

/** Parse the central directory: [{ name, method, compSize, size, localOffset }]. */
function centralDirectory(buf, where) {
  const err = (msg) => new NpyError(`${where}: ${msg}`);
  let eocd = -1;
  const stop = Math.max(0, buf.length - EOCD_MAX_SEARCH);
  for (let i = buf.length - EOCD_MIN; i >= stop; i--) {
    if (buf.readUInt32LE(i) === EOCD_SIG) { eocd = i; break; }
  }
  if (eocd < 0) throw err('not a zip/.npz file (no end-of-central-directory record)');
  let count = buf.readUInt16LE(eocd + 10);
  let cdSize = buf.readUInt32LE(eocd + 12);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || buf.readUInt32LE(loc) !== ZIP64_EOCD_LOCATOR_SIG) throw err('zip64 locator missing');
    const z = readU64(buf, loc + 8);
    if (z + 56 > buf.length || buf.readUInt32LE(z) !== ZIP64_EOCD_SIG) throw err('bad zip64 end record');
    count = readU64(buf, z + 32);
    cdSize = readU64(buf, z + 40);
    cdOffset = readU64(buf, z + 48);
  }
  if (cdOffset + cdSize > buf.length) throw err('truncated central directory');

  const entries = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== CENTRAL_SIG) throw err(`bad central directory entry ${k}`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    let compSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localOffset = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString((flags & 0x800) ? 'utf8' : 'latin1');
    // zip64 extra: the 8-byte values present are exactly those whose 32-bit field is 0xFFFFFFFF,
    // in the order size, compressed size, local header offset.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === ZIP64_EXTRA_ID) {
        let q = e + 4;
        if (size === 0xffffffff) { size = readU64(buf, q); q += 8; }
        if (compSize === 0xffffffff) { compSize = readU64(buf, q); q += 8; }
        if (localOffset === 0xffffffff) { localOffset = readU64(buf, q); q += 8; }
      }
      e += 4 + len;
    }
    if (flags & 0x1) throw err(`member ${name} is encrypted`);
    entries.push({ name, method, compSize, size, localOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

function memberBytes(buf, entry, where) {
  const err = (msg) => new NpyError(`${where}: member ${entry.name}: ${msg}`);
  const h = entry.localOffset;
  if (h + 30 > buf.length || buf.readUInt32LE(h) !== LOCAL_SIG) throw err('bad local header');
  const start = h + 30 + buf.readUInt16LE(h + 26) + buf.readUInt16LE(h + 28);
  if (start + entry.compSize > buf.length) throw err('truncated data');
  const raw = buf.subarray(start, start + entry.compSize);
  let out;
  if (entry.method === METHOD_STORED) out = raw;
  else if (entry.method === METHOD_DEFLATE) {
    try {
      out = inflateRawSync(raw);
    } catch (e) {
      throw err(`cannot inflate: ${e.message}`);
    }
  } else throw err(`unsupported compression method ${entry.method} (only stored and deflate)`);
  if (out.length !== entry.size) throw err(`size ${out.length} != ${entry.size} from the directory`);
  return out;
}

function readArchive(path) {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new NpyError(`cannot read ${path}: ${e.message}`);
  }
}

const keyOf = (name) => (name.endsWith('.npy') ? name.slice(0, -4) : name);

export function readNpzKeys(path) {
  return centralDirectory(readArchive(path), path).map((e) => keyOf(e.name));
}

export function readNpzArray(path, key) {
  const buf = readArchive(path);
  const entries = centralDirectory(buf, path);
  const entry = entries.find((e) => keyOf(e.name) === key);
  if (!entry) {
    throw new NpyError(`${path} has no array '${key}' (it has: ${entries.map((e) => keyOf(e.name)).join(', ')})`);
  }
  return decodeNpy(memberBytes(buf, entry, path), `${path}[${key}]`);
}

export function readNpz(path) {
  const buf = readArchive(path);
  const out = new Map();
  for (const entry of centralDirectory(buf, path)) {
    out.set(keyOf(entry.name), decodeNpy(memberBytes(buf, entry, path), `${path}[${keyOf(entry.name)}]`));
  }
  return out;
}
