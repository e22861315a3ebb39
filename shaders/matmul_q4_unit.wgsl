// matmul_q4_unit: the unit interface (matmul_w.wgsl) shared by ggml Q4_0 and Q4_1, appended by
// the registry after their format file. Word j = word i = j % 4 of block b = j / 4: elements
// 32b + 4i … +3 (low nibbles) and 32b + 16 + 4i … +3 (high nibbles). Nibbles become floats
// without integer conversions: bitcast(0x4B000000 | q) = 2^23 + q exactly. The format file's
// `dot_unit` applies its scales to q4_unit's (Σ q·x, Σ x).
const EPW: u32 = 8u;

fn q4_unit(j: u32, w: u32, xrow: u32) -> vec2<f32> {
    let wv = vec4<u32>(w);
    let m = vec4<u32>(0xfu);
    let e = vec4<u32>(0x4B000000u);
    let lo = bitcast<vec4<f32>>(((wv >> vec4<u32>(0u, 8u, 16u, 24u)) & m) | e) - vec4<f32>(8388608.0);
    let hi = bitcast<vec4<f32>>(((wv >> vec4<u32>(4u, 12u, 20u, 28u)) & m) | e) - vec4<f32>(8388608.0);
    let c = xrow + 32u * (j / 4u) + 4u * (j % 4u);
    let a = xv(c);
    let b = xv(c + 16u);
    return vec2<f32>(dot(lo, a) + dot(hi, b), dot(a + b, vec4<f32>(1.0)));
}
