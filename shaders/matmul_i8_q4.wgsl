// matmul_i8_q4: the int8-activation unit (shaders/matmul_x_i8.wgsl) for the 4-bit formats that
// share ggml's Q4 nibble layout: Q4_0, Q4_1 (shaders/matmul_q4_0.wgsl, matmul_q4_1.wgsl) and
// tritium's AWQ4_G* (repacked at upload into the same layout; shaders/matmul_awq4.wgsl). Word k
// (k < 4) of a 32-block holds elements 4k … 4k+3 in its low nibbles (byte i = element 4k+i) and
// 16+4k … 16+4k+3 in its high nibbles, so `w & 0x0f0f0f0f` and `(w >> 4) & 0x0f0f0f0f` are
// packed int8 codes 0 … 15 that line up with activation words k and 4+k.
// The registry injects `const Q4_KIND: u32` (0 Q4_0: w = d·(q − 8), one d per block; 1 Q4_1:
// w = d·q + m, (d, m) per block; 2 AWQ4: w = (q − Z)·S, (S, Z) per group) and `const GROUP`.
// Unit j = block j of the row; with s = Σ q·x_q (eight dot4I8Packed) and Σx_q from the input:
//   Q4_0: d·d_x·(s − 8·Σx_q)   Q4_1: d_x·(d·s + m·Σx_q)   AWQ4: S·d_x·(s − Z·Σx_q)
const I8_M4: u32 = 0x0f0f0f0fu;

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let base = row * p.row_words + 4u * j; // a multiple of 4: row_words = cols / 8, cols % 32 = 0
    let xb = xblock(xrow + 32u * j);
    let lo = xcodes(xb, 0u);
    let hi = xcodes(xb, 1u);
    let w = weights4[base >> 2u];
    let wl = w & vec4<u32>(I8_M4);
    let wh = (w >> vec4<u32>(4u)) & vec4<u32>(I8_M4);
    let s = dot4I8Packed(wl.x, lo.x) + dot4I8Packed(wl.y, lo.y) + dot4I8Packed(wl.z, lo.z) + dot4I8Packed(wl.w, lo.w)
        + dot4I8Packed(wh.x, hi.x) + dot4I8Packed(wh.y, hi.y) + dot4I8Packed(wh.z, hi.z) + dot4I8Packed(wh.w, hi.w);
    let dx = xscale(xb);
    let qs = f32(s);
    if (Q4_KIND == 0u) {
        return scales[row * (p.cols / 32u) + j] * dx.x * (qs - 8.0 * dx.y);
    }
    if (Q4_KIND == 1u) {
        let si = 2u * (row * (p.cols / 32u) + j);
        return dx.x * (scales[si] * qs + scales[si + 1u] * dx.y);
    }
    let si = 2u * (row * (p.cols / GROUP) + (32u * j) / GROUP);
    return scales[si] * dx.x * (qs - scales[si + 1u] * dx.y);
}
