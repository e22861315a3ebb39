// matmul_i8_tp: the int8-activation unit (shaders/matmul_x_i8.wgsl) for tritium's trit planes
// TP1_G*/TP2_G* and ggml TQ2_0, in the layout of shaders/matmul_tp.wgsl (per plane, words of 16
// 2-bit codes c = t + 1 with element 4s+i of the word in bits 8i+2s … 8i+2s+1, so
// `(w >> 2s) & 0x03030303` is four packed int8 codes of elements 4s … 4s+3; one f32 α per plane
// per group). The registry injects GROUP and PLANES (TQ2_0: 256 and 1).
// Unit j = block j of the row (2 words per plane): per plane α·(Σ c·x_q − Σx_q)·d_x, since
// t = c − 1; the codes go to dot4I8Packed as they are (no multiplication by the trit itself).
const I8_M2: u32 = 0x03030303u;

// Σ c·x_q over the 16 elements of word w, whose activations are the four code words x.
fn tp_i8(w: u32, x: vec4<u32>) -> i32 {
    return dot4I8Packed(w & I8_M2, x.x) + dot4I8Packed((w >> 2u) & I8_M2, x.y)
        + dot4I8Packed((w >> 4u) & I8_M2, x.z) + dot4I8Packed((w >> 6u) & I8_M2, x.w);
}

// Words i and i+1 (i even: a block's two words never straddle a 16-byte word).
fn wpair(i: u32) -> vec2<u32> {
    let v = weights4[i >> 2u];
    return select(v.xy, v.zw, (i & 2u) != 0u);
}

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let wpg = GROUP / 16u;
    let e = 32u * j;
    let g = e / GROUP;
    let wi = row * p.row_words + g * PLANES * wpg + (e % GROUP) / 16u;
    let xb = xblock(xrow + e);
    let dx = xscale(xb);
    let lo = xcodes(xb, 0u);
    let hi = xcodes(xb, 1u);
    let ai = (row * (p.cols / GROUP) + g) * PLANES;
    let w = wpair(wi);
    var acc = scales[ai] * (f32(tp_i8(w.x, lo) + tp_i8(w.y, hi)) - dx.y);
    if (PLANES > 1u) {
        let w2 = wpair(wi + wpg);
        acc += scales[ai + 1u] * (f32(tp_i8(w2.x, lo) + tp_i8(w2.y, hi)) - dx.y);
    }
    return acc * dx.x;
}
