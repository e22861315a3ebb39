// The one-node ONNX graph of onnxruntime's contrib op `com.microsoft::MatMulNBits` (4-bit,
// asymmetric, one fp32 scale and one 4-bit zero point per block of `blockSize` input channels),
// written as protobuf bytes by hand: the handful of ModelProto fields this graph needs is smaller
// than a protobuf library and its .proto schema. Also: seeded random int4 weights in both
// layouts (ORT's B / scales / zero_points, and tritium's AWQ4_G<blockSize> row blocks) and a
// plain f64 reference product. Runs in the browser (bench:peers page) and in Node (smoke test).
//
// Field numbers are those of onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
// TensorProto, ValueInfoProto, TypeProto). MatMulNBits' contract (onnxruntime
// docs/ContribOperators.md): A [M, K] float, B [N, ceil(K/bs), bs/2] uint8 (element k of a block
// in byte k/2, low nibble first), scales [N * ceil(K/bs)] float, zero_points
// [N * ceil(ceil(K/bs)/2)] uint8 (two 4-bit zeros per byte, low nibble first) → Y [M, N];
// w[n][k] = (q − zero) · scale.

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

class Pb {
  constructor() {
    this.parts = [];
    this.len = 0;
  }
  #push(bytes) {
    this.parts.push(bytes);
    this.len += bytes.length;
  }
  #varint(v) {
    // Non-negative integers up to 2^53 (dims, enum values, versions).
    let n = BigInt(v);
    const out = [];
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) b |= 0x80;
      out.push(b);
    } while (n > 0n);
    this.#push(Uint8Array.from(out));
  }
  #key(field, wire) {
    this.#varint(field * 8 + wire);
  }
  int(field, v) {
    this.#key(field, WIRE_VARINT);
    this.#varint(v);
    return this;
  }
  bytes(field, data) {
    this.#key(field, WIRE_LEN);
    this.#varint(data.length);
    this.#push(data);
    return this;
  }
  str(field, s) {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field, pb) {
    return this.bytes(field, pb.finish());
  }
  finish() {
    const out = new Uint8Array(this.len);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** ONNX TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_UINT8 = 2;

function tensor(name, dataType, dims, raw) {
  const t = new Pb();
  for (const d of dims) t.int(1, d); // dims (int64, unpacked is valid proto3 wire form)
  t.int(2, dataType);
  t.str(8, name);
  t.bytes(9, new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength)); // raw_data, little-endian
  return t;
}

function valueInfo(name, elemType, dims) {
  const shape = new Pb();
  for (const d of dims) shape.msg(1, typeof d === 'string' ? new Pb().str(2, d) : new Pb().int(1, d));
  const tensorType = new Pb().int(1, elemType).msg(2, shape);
  return new Pb().str(1, name).msg(2, new Pb().msg(1, tensorType));
}

function intAttr(name, v) {
  return new Pb().str(1, name).int(3, v).int(20, 2); // type = INT
}

/**
 * Serialize the graph `Y = MatMulNBits(A, B, scales, zero_points)` with the weights as
 * initializers. `m` is a fixed batch or a symbolic name (e.g. 'M').
 * @returns {Uint8Array} ModelProto bytes
 */
export function matmulNBitsModel({ rows, cols, blockSize = 128, b, scales, zeros, m = 'M', accuracyLevel = 0 }) {
  const nBlocks = Math.ceil(cols / blockSize);
  if (b.length !== rows * nBlocks * (blockSize / 2)) throw new Error(`B has ${b.length} bytes, expected ${rows * nBlocks * (blockSize / 2)}`);
  if (scales.length !== rows * nBlocks) throw new Error(`scales has ${scales.length} values, expected ${rows * nBlocks}`);
  if (zeros.length !== rows * Math.ceil(nBlocks / 2)) throw new Error(`zero_points has ${zeros.length} bytes, expected ${rows * Math.ceil(nBlocks / 2)}`);
  const node = new Pb()
    .str(1, 'A').str(1, 'B').str(1, 'scales').str(1, 'zero_points')
    .str(2, 'Y')
    .str(3, 'matmul_nbits')
    .str(4, 'MatMulNBits')
    .msg(5, intAttr('K', cols))
    .msg(5, intAttr('N', rows))
    .msg(5, intAttr('bits', 4))
    .msg(5, intAttr('block_size', blockSize))
    .msg(5, intAttr('accuracy_level', accuracyLevel))
    .str(7, 'com.microsoft');
  const graph = new Pb()
    .msg(1, node)
    .str(2, 'matmul_nbits_graph')
    .msg(5, tensor('B', ONNX_UINT8, [rows, nBlocks, blockSize / 2], b))
    .msg(5, tensor('scales', ONNX_FLOAT, [rows * nBlocks], scales))
    .msg(5, tensor('zero_points', ONNX_UINT8, [rows * Math.ceil(nBlocks / 2)], zeros))
    .msg(11, valueInfo('A', ONNX_FLOAT, [m, cols]))
    .msg(12, valueInfo('Y', ONNX_FLOAT, [m, rows]));
  return new Pb()
    .int(1, 8) // ir_version 8
    .str(2, 'tritium bench:peers')
    .msg(8, new Pb().str(1, '').int(2, 17)) // opset_import: ai.onnx 17
    .msg(8, new Pb().str(1, 'com.microsoft').int(2, 1))
    .msg(7, graph)
    .finish();
}

/** SplitMix64 (as BigInt), the same generator family the Rust side uses for its benches. */
export function splitmix(seed) {
  let s = BigInt.asUintN(64, BigInt(seed));
  return () => {
    s = BigInt.asUintN(64, s + 0x9e3779b97f4a7c15n);
    let z = s;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    z ^= z >> 31n;
    return Number(z >> 11n) / 2 ** 53; // [0, 1)
  };
}

/** IEEE f16 bits of a float (round to nearest even), and back. */
export function f32ToF16(v) {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

export function f16ToF32(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Seeded random int4 weights `rows × cols` (codes 0..15, one scale and one zero point per block
 * of `blockSize`), in both layouts. Scales are f16-representable so both engines see the same
 * numbers (tritium stores f16 scales, MatMulNBits here takes fp32). Also a seeded input.
 */
export function randomInt4({ rows, cols, blockSize = 128, batch = 1, seed = 1 }) {
  if (cols % blockSize !== 0) throw new Error(`cols ${cols} must be a multiple of the block size ${blockSize}`);
  const rnd = splitmix(seed);
  const nBlocks = cols / blockSize;
  const half = blockSize / 2;
  const b = new Uint8Array(rows * nBlocks * half);
  const scales = new Float32Array(rows * nBlocks);
  const scaleBits = new Uint16Array(rows * nBlocks);
  const zeroCodes = new Uint8Array(rows * nBlocks);
  const zeros = new Uint8Array(rows * Math.ceil(nBlocks / 2));
  // Codes: bulk random bytes (each byte = two codes) from a cheap 32-bit LCG seeded by SplitMix.
  let lcg = (rnd() * 2 ** 32) >>> 0;
  for (let i = 0; i < b.length; i++) {
    lcg = (Math.imul(lcg, 1664525) + 1013904223) >>> 0;
    b[i] = lcg >>> 24;
  }
  for (let i = 0; i < rows * nBlocks; i++) {
    scaleBits[i] = f32ToF16(0.002 + 0.02 * rnd());
    scales[i] = f16ToF32(scaleBits[i]);
    zeroCodes[i] = Math.floor(rnd() * 16) & 15;
  }
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < nBlocks; j++) {
      const z = zeroCodes[r * nBlocks + j];
      const idx = r * Math.ceil(nBlocks / 2) + (j >> 1);
      zeros[idx] |= j & 1 ? z << 4 : z;
    }
  }
  // tritium AWQ4_G<bs>: per row, per block: bs/2 code bytes (same nibble order), f16 S, f16 Z.
  const blockBytes = half + 4;
  const awq = new Uint8Array(rows * nBlocks * blockBytes);
  const dv = new DataView(awq.buffer);
  for (let i = 0; i < rows * nBlocks; i++) {
    awq.set(b.subarray(i * half, (i + 1) * half), i * blockBytes);
    dv.setUint16(i * blockBytes + half, scaleBits[i], true);
    dv.setUint16(i * blockBytes + half + 2, f32ToF16(zeroCodes[i]), true);
  }
  const x = new Float32Array(batch * cols);
  for (let i = 0; i < x.length; i++) x[i] = 2 * rnd() - 1;
  return { rows, cols, blockSize, batch, b, scales, zeros, zeroCodes, awq, x };
}

/** f64 reference `Y[t][r] = Σ_k W[r][k] · X[t][k]` for a few rows (all when `rowsToCheck` is omitted). */
export function referenceRows(w, rowsToCheck = null) {
  const { rows, cols, blockSize, batch, b, scales, zeroCodes, x } = w;
  const nBlocks = cols / blockSize;
  const list = rowsToCheck ?? Array.from({ length: rows }, (_, i) => i);
  const out = new Map();
  for (const r of list) {
    const y = new Float64Array(batch);
    for (let j = 0; j < nBlocks; j++) {
      const s = scales[r * nBlocks + j];
      const z = zeroCodes[r * nBlocks + j];
      const base = (r * nBlocks + j) * (blockSize / 2);
      for (let k = 0; k < blockSize; k++) {
        const byte = b[base + (k >> 1)];
        const q = k & 1 ? byte >> 4 : byte & 15;
        const wv = (q - z) * s;
        const c = j * blockSize + k;
        for (let t = 0; t < batch; t++) y[t] += wv * x[t * cols + c];
      }
    }
    out.set(r, y);
  }
  return out;
}
