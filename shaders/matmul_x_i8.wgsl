// matmul_x_i8: the int8 input of the word body (shaders/matmul_w.wgsl), appended by the registry
// before a shaders/matmul_i8_<format>.wgsl unit file.
//   binding 4 xq: what shaders/quantize_i8.wgsl writes: per 32-element block of each token row
//                 (blocks numbered across rows: block b = element 32b of [n_tok, cols]), 10 u32:
//                 words 0 … 7 the int8 codes q (element 4k+i of the block in byte i of word k,
//                 two's complement), word 8 the block scale d (f32 bits, a power of two; x ≈ d·q), word 9 Σq
//                 (f32 bits, exact). cols is a multiple of 32.
// The unit of every int8 format is one block (EPW = 32): lane l of a row takes blocks l,
// l+LANES, …; dot_unit multiplies four int8 pairs per `dot4I8Packed` and applies d once.
@group(0) @binding(4) var<storage, read> xq: array<u32>;

const EPW: u32 = 32u;

// First word of the block that starts at element c of the input (c a multiple of 32).
fn xblock(c: u32) -> u32 {
    return (c >> 5u) * 10u;
}

// (d, Σq) of the block whose first word is b.
fn xscale(b: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(xq[b + 8u]), bitcast<f32>(xq[b + 9u]));
}
