// matmul_x_i8: the int8 input of the word body (shaders/matmul_w.wgsl), appended by the registry
// before a shaders/matmul_i8_<format>.wgsl unit file.
//   binding 4 xq: what shaders/quantize_i8.wgsl writes, read as vec4<u32>: per 32-element block
//                 b of the step's [n_tok, cols] input (blocks numbered across rows: block b =
//                 element 32b; NB = n_tok · cols / 32 blocks), its eight int8 code words (element
//                 4k+i of the block in byte i of word k, two's complement) as two vec4 in planes
//                 xq[b] and xq[NB + b], and its scale d (f32 bits, a power of two; x ≈ d·q) and Σq
//                 (f32 bits, exact) as half of xq[2NB + b/2]. cols is a multiple of 32.
// The unit of every int8 format is one block (EPW = 32): lane l of a row takes blocks l,
// l+LANES, …, so a warp's loads of codes and scales are consecutive 16-byte words (a block's ten
// words side by side put 40 bytes between lanes: ten cache lines per load). dot_unit multiplies
// four int8 pairs per `dot4I8Packed` and applies d once. The unit files read the input only
// through xblock (a block handle), xcodes and xscale, which shaders/matmul_x_i8s.wgsl defines over
// workgroup memory instead.
// binding 2 weights4: the format's u32 words read four at a time (the upload pads each shard to a
// whole 16-byte word; the units pick the words of a block out of its 16-byte word).
@group(0) @binding(2) var<storage, read> weights4: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> xq: array<vec4<u32>>;

const EPW: u32 = 32u;

// The handle of the block that starts at element c of the input (c a multiple of 32): its number.
fn xblock(c: u32) -> u32 {
    return c >> 5u;
}

// Code words 4h … 4h+3 (elements 16h … 16h+15) of block b.
fn xcodes(b: u32, h: u32) -> vec4<u32> {
    return xq[h * step.n_tok * (p.cols >> 5u) + b];
}

// (d, Σq) of block b.
fn xscale(b: u32) -> vec2<f32> {
    let s = xq[2u * step.n_tok * (p.cols >> 5u) + (b >> 1u)];
    return bitcast<vec2<f32>>(select(s.xy, s.zw, (b & 1u) == 1u));
}

// The input is already in memory (shaders/matmul_x_i8s.wgsl stages it in the workgroup instead).
fn stage_x(lid: u32) {}
