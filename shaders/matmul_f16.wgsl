// matmul_f16: weights in f16, two per u32 (element 2i in the low half), rows padded to a multiple
// of 32 elements (16 words per sub-block). scales: unused. No shader-f16 needed (unpack2x16float).
fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + sb * 16u;
    for (var i = 0u; i < 16u; i++) {
        let h = unpack2x16float(weights[base + i]);
        (*v)[2u * i] = h.x;
        (*v)[2u * i + 1u] = h.y;
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let base = row * p.row_words + sb * 16u;
    let n = min(32u, p.cols - sb * 32u);
    var s = 0.0;
    for (var i = 0u; i < n / 2u; i++) {
        let h = unpack2x16float(weights[base + i]);
        s += h.x * input[xbase + 2u * i] + h.y * input[xbase + 2u * i + 1u];
    }
    if (n % 2u == 1u) {
        s += unpack2x16float(weights[base + n / 2u]).x * input[xbase + n - 1u];
    }
    return s;
}

// Unit interface (matmul_w.wgsl): words 2j, 2j+1 = elements 4j … 4j+3.
const EPW: u32 = 4u;

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let b = row * p.row_words + 2u * j;
    let w = vec4<f32>(unpack2x16float(weights[b]), unpack2x16float(weights[b + 1u]));
    return dot(w, xv(xrow + 4u * j));
}
