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

// Unit interface (matmul_w.wgsl): q4_unit and EPW come from shaders/matmul_q4_unit.wgsl.
fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let r = q4_unit(j, weights[row * p.row_words + j], xrow);
    return (r.x - 8.0 * r.y) * scales[row * (p.cols / 32u) + j / 4u];
}
