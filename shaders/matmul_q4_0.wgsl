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
// 32b + 4i … +3 (low nibbles) and 32b + 16 + 4i … +3 (high nibbles).
const EPW: u32 = 8u;

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let w = weights[row * p.row_words + j];
    let lo = vec4<f32>(vec4<u32>(w & 0xfu, (w >> 8u) & 0xfu, (w >> 16u) & 0xfu, (w >> 24u) & 0xfu));
    let hi = vec4<f32>(vec4<u32>((w >> 4u) & 0xfu, (w >> 12u) & 0xfu, (w >> 20u) & 0xfu, w >> 28u));
    let c = xrow + 32u * (j / 4u) + 4u * (j % 4u);
    let a = vec4<f32>(input[c], input[c + 1u], input[c + 2u], input[c + 3u]);
    let b = vec4<f32>(input[c + 16u], input[c + 17u], input[c + 18u], input[c + 19u]);
    let one = vec4<f32>(1.0);
    return (dot(lo, a) + dot(hi, b) - 8.0 * (dot(a, one) + dot(b, one))) * scales[row * (p.cols / 32u) + j / 4u];
}
