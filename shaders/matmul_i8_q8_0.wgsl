// matmul_i8_q8_0: the int8-activation unit (shaders/matmul_x_i8.wgsl) for ggml Q8_0 in the
// layout of shaders/matmul_q8_0.wgsl (8 words of int8 codes per 32-block, element 4k+i in byte i
// of word k; one f32 d per block). Unit j = block j of the row:
//   d_w · d_x · Σ_k dot4I8Packed(w_k, x_k)   (eight dot4I8Packed, integer sum exact)
fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let base = row * p.row_words + 8u * j; // a multiple of 8: row_words = cols / 4, cols % 32 = 0
    let xb = xblock(xrow + 32u * j);
    let lo = xcodes(xb, 0u);
    let hi = xcodes(xb, 1u);
    let wl = weights4[base >> 2u];
    let wh = weights4[(base >> 2u) + 1u];
    let s = dot4I8Packed(wl.x, lo.x) + dot4I8Packed(wl.y, lo.y) + dot4I8Packed(wl.z, lo.z) + dot4I8Packed(wl.w, lo.w)
        + dot4I8Packed(wh.x, hi.x) + dot4I8Packed(wh.y, hi.y) + dot4I8Packed(wh.z, hi.z) + dot4I8Packed(wh.w, hi.w);
    return f32(s) * scales[row * (p.cols / 32u) + j] * xscale(xb).x;
}
