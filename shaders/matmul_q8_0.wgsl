// matmul_q8_0: ggml Q8_0 repacked at upload into aligned segments.
//   weights: 8 words per 32-block (int8 codes, element 4i+k in byte k of word i), row_words = 8·blocks
//   scales:  one f32 d per block, [rows, blocks]              w = d · q
fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + sb * 8u;
    let d = scales[row * (p.cols / 32u) + sb];
    for (var i = 0u; i < 8u; i++) {
        let w = weights[base + i];
        for (var k = 0u; k < 4u; k++) {
            let q = bitcast<i32>(w << (24u - 8u * k)) >> 24u;
            (*v)[4u * i + k] = f32(q) * d;
        }
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let base = row * p.row_words + sb * 8u;
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) {
        let w = weights[base + i];
        let x = vec4<f32>(input[xbase + 4u * i], input[xbase + 4u * i + 1u], input[xbase + 4u * i + 2u], input[xbase + 4u * i + 3u]);
        let q = vec4<f32>(vec4<i32>(bitcast<i32>(w << 24u) >> 24u, bitcast<i32>(w << 16u) >> 24u, bitcast<i32>(w << 8u) >> 24u, bitcast<i32>(w) >> 24u));
        s += dot(q, x);
    }
    return s * scales[row * (p.cols / 32u) + sb];
}

// Unit interface (matmul_w.wgsl): word j = elements 4j … 4j+3 (word j % 8 of block j / 8).
// Bytes to floats without integer conversions: (byte ^ 0x80) is q + 128 in 0 … 255, and
// bitcast(0x4B000000 | u) = 2^23 + u exactly.
const EPW: u32 = 4u;

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let w = vec4<u32>(weights[row * p.row_words + j]);
    let u = ((w >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu)) ^ vec4<u32>(0x80u);
    let q = bitcast<vec4<f32>>(u | vec4<u32>(0x4B000000u)) - vec4<f32>(8388736.0);
    return dot(q, xv(xrow + 4u * j)) * scales[row * (p.cols / 32u) + j / 8u];
}
