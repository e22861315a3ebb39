// matmul_f32: weights in f32, rows padded to a multiple of 32 elements.
//   weights: row r, column c at word r·row_words + c (f32 bits); scales: unused (one dummy word).
fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + sb * 32u;
    for (var j = 0u; j < 32u; j++) {
        (*v)[j] = bitcast<f32>(weights[base + j]);
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let base = row * p.row_words + sb * 32u;
    let n = min(32u, p.cols - sb * 32u);
    var s = 0.0;
    for (var j = 0u; j < n; j++) {
        s += bitcast<f32>(weights[base + j]) * input[xbase + j];
    }
    return s;
}

// Unit interface (matmul_w.wgsl): four elements (words) per unit.
const EPW: u32 = 4u;

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let b = row * p.row_words + 4u * j;
    let w = bitcast<vec4<f32>>(vec4<u32>(weights[b], weights[b + 1u], weights[b + 2u], weights[b + 3u]));
    return dot(w, xv(xrow + 4u * j));
}
