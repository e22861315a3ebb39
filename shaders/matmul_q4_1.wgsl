// matmul_q4_1: ggml Q4_1 repacked at upload.
//   weights: 4 words per 32-block (as Q4_0), row_words = 4·blocks
//   scales:  f32 pairs (d, m) per block, [rows, blocks, 2]     w = d · q + m
fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + sb * 4u;
    let si = 2u * (row * (p.cols / 32u) + sb);
    let d = scales[si];
    let m = scales[si + 1u];
    for (var i = 0u; i < 4u; i++) {
        let w = weights[base + i];
        for (var k = 0u; k < 4u; k++) {
            let b = (w >> (8u * k)) & 0xffu;
            (*v)[4u * i + k] = f32(b & 0xfu) * d + m;
            (*v)[4u * i + k + 16u] = f32(b >> 4u) * d + m;
        }
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let base = row * p.row_words + sb * 4u;
    let si = 2u * (row * (p.cols / 32u) + sb);
    var s = 0.0;
    var xs = 0.0;
    for (var i = 0u; i < 4u; i++) {
        let w = weights[base + i];
        let lo = vec4<f32>(vec4<u32>(w & 0xfu, (w >> 8u) & 0xfu, (w >> 16u) & 0xfu, (w >> 24u) & 0xfu));
        let hi = vec4<f32>(vec4<u32>((w >> 4u) & 0xfu, (w >> 12u) & 0xfu, (w >> 20u) & 0xfu, w >> 28u));
        let xl = xbase + 4u * i;
        let a = vec4<f32>(input[xl], input[xl + 1u], input[xl + 2u], input[xl + 3u]);
        let b = vec4<f32>(input[xl + 16u], input[xl + 17u], input[xl + 18u], input[xl + 19u]);
        s += dot(lo, a) + dot(hi, b);
        xs += dot(a, vec4<f32>(1.0)) + dot(b, vec4<f32>(1.0));
    }
    return s * scales[si] + xs * scales[si + 1u];
}

// Unit interface (matmul_w.wgsl): q4_unit and EPW come from shaders/matmul_q4_unit.wgsl.
fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let r = q4_unit(j, weights[row * p.row_words + j], xrow);
    let si = 2u * (row * (p.cols / 32u) + j / 4u);
    return r.x * scales[si] + r.y * scales[si + 1u];
}
