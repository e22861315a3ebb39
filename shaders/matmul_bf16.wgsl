// matmul_bf16: weights in bf16, two per u32 (element 2i in the low half), rows padded to a
// multiple of 32 elements. bf16 → f32 is a 16-bit shift. scales: unused.
fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + sb * 16u;
    for (var i = 0u; i < 16u; i++) {
        let w = weights[base + i];
        (*v)[2u * i] = bitcast<f32>(w << 16u);
        (*v)[2u * i + 1u] = bitcast<f32>(w & 0xffff0000u);
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let base = row * p.row_words + sb * 16u;
    let n = min(32u, p.cols - sb * 32u);
    var s = 0.0;
    for (var i = 0u; i < n / 2u; i++) {
        let w = weights[base + i];
        s += bitcast<f32>(w << 16u) * input[xbase + 2u * i] + bitcast<f32>(w & 0xffff0000u) * input[xbase + 2u * i + 1u];
    }
    if (n % 2u == 1u) {
        s += bitcast<f32>(weights[base + n / 2u] << 16u) * input[xbase + n - 1u];
    }
    return s;
}

// Unit interface (matmul_w.wgsl): words 2j, 2j+1 = elements 4j … 4j+3.
const EPW: u32 = 4u;

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let b = row * p.row_words + 2u * j;
    let w0 = weights[b];
    let w1 = weights[b + 1u];
    let w = bitcast<vec4<f32>>(vec4<u32>(w0 << 16u, w0 & 0xffff0000u, w1 << 16u, w1 & 0xffff0000u));
    return dot(w, xv(xrow + 4u * j));
}
