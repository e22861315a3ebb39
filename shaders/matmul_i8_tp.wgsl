// matmul_i8_tp: the int8-activation unit (shaders/matmul_x_i8.wgsl) for tritium's trit planes
// TP1_G*/TP2_G* and ggml TQ2_0, in the layout of shaders/matmul_tp.wgsl (per plane, words of 16
// 2-bit codes c = t + 1 with element 4s+i of the word in bits 8i+2s … 8i+2s+1, so
// `(w >> 2s) & 0x03030303` is four packed int8 codes of elements 4s … 4s+3; one f32 α per plane
// per group). The registry injects GROUP and PLANES (TQ2_0: 256 and 1).
// Unit j = block j of the row (2 words per plane): per plane α·(Σ c·x_q − Σx_q)·d_x, since
// t = c − 1; the codes go to dot4I8Packed as they are (no multiplication by the trit itself).
const I8_M2: u32 = 0x03030303u;

// Σ c·x_q over the 16 elements of word w, whose activations start at word xb of the input.
fn tp_i8(w: u32, xb: u32) -> i32 {
    return dot4I8Packed(w & I8_M2, xq[xb]) + dot4I8Packed((w >> 2u) & I8_M2, xq[xb + 1u])
        + dot4I8Packed((w >> 4u) & I8_M2, xq[xb + 2u]) + dot4I8Packed((w >> 6u) & I8_M2, xq[xb + 3u]);
}

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let wpg = GROUP / 16u;
    let e = 32u * j;
    let g = e / GROUP;
    let wi = row * p.row_words + g * PLANES * wpg + (e % GROUP) / 16u;
    let xb = xblock(xrow + e);
    let dx = xscale(xb);
    let ai = (row * (p.cols / GROUP) + g) * PLANES;
    var acc = scales[ai] * (f32(tp_i8(weights[wi], xb) + tp_i8(weights[wi + 1u], xb + 4u)) - dx.y);
    if (PLANES > 1u) {
        acc += scales[ai + 1u] * (f32(tp_i8(weights[wi + wpg], xb) + tp_i8(weights[wi + wpg + 1u], xb + 4u)) - dx.y);
    }
    return acc * dx.x;
}
