// matmul_q4_0: ggml Q4_0 repacked at upload.
//   weights: 4 words per 32-block (the 16 code bytes; byte j: element j in the low nibble,
//            element j+16 in the high nibble), row_words = 4·blocks
//   scales:  one f32 d per block, [rows, blocks]              w = d · (q − 8)
fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + sb * 4u;
    let d = scales[row * (p.cols / 32u) + sb];
    for (var i = 0u; i < 4u; i++) {
        let w = weights[base + i];
        for (var k = 0u; k < 4u; k++) {
            let b = (w >> (8u * k)) & 0xffu;
            (*v)[4u * i + k] = (f32(b & 0xfu) - 8.0) * d;
            (*v)[4u * i + k + 16u] = (f32(b >> 4u) - 8.0) * d;
        }
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let base = row * p.row_words + sb * 4u;
    var s = 0.0;
    for (var i = 0u; i < 4u; i++) {
        let w = weights[base + i];
        let lo = vec4<f32>(vec4<u32>(w & 0xfu, (w >> 8u) & 0xfu, (w >> 16u) & 0xfu, (w >> 24u) & 0xfu)) - 8.0;
        let hi = vec4<f32>(vec4<u32>((w >> 4u) & 0xfu, (w >> 12u) & 0xfu, (w >> 20u) & 0xfu, w >> 28u)) - 8.0;
        let xl = xbase + 4u * i;
        s += dot(lo, vec4<f32>(input[xl], input[xl + 1u], input[xl + 2u], input[xl + 3u]));
        s += dot(hi, vec4<f32>(input[xl + 16u], input[xl + 17u], input[xl + 18u], input[xl + 19u]));
    }
    return s * scales[row * (p.cols / 32u) + sb];
}

// Unit interface (matmul_w.wgsl): word j = word i = j % 4 of block b = j / 4: elements
// 32b + 4i … +3 (low nibbles) and 32b + 16 + 4i … +3 (high nibbles). Nibbles become floats
// without integer conversions: bitcast(0x4B000000 | q) = 2^23 + q exactly.
const EPW: u32 = 8u;

fn q4_unit(j: u32, w: u32, xrow: u32) -> vec4<f32> {
    let wv = vec4<u32>(w);
    let m = vec4<u32>(0xfu);
    let e = vec4<u32>(0x4B000000u);
    let lo = bitcast<vec4<f32>>(((wv >> vec4<u32>(0u, 8u, 16u, 24u)) & m) | e) - vec4<f32>(8388608.0);
    let hi = bitcast<vec4<f32>>(((wv >> vec4<u32>(4u, 12u, 20u, 28u)) & m) | e) - vec4<f32>(8388608.0);
    let c = xrow + 32u * (j / 4u) + 4u * (j % 4u);
    let a = xv(c);
    let b = xv(c + 16u);
    // (Σ q·x, Σ x)
    return vec4<f32>(dot(lo, a) + dot(hi, b), dot(a + b, vec4<f32>(1.0)), 0.0, 0.0);
}

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let r = q4_unit(j, weights[row * p.row_words + j], xrow);
    return (r.x - 8.0 * r.y) * scales[row * (p.cols / 32u) + j / 4u];
}
