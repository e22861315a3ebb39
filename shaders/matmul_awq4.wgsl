// matmul_awq4: tritium AWQ4_G{32,64,128} (int4 codes, f16 scale S and f16 zero Z per group of
// GROUP input channels) repacked at upload (backend/gpu/weights.rs). One source for the three
// group sizes: the registry (backend/gpu/kernels.rs) injects `const GROUP: u32 = 32u|64u|128u;`.
//   weights: row_words = cols/8 u32 per row, in ggml's Q4 nibble layout (shaders/matmul_q4_0.wgsl):
//            word k (k < 4) of 32-block b holds elements 32b + 4k + i in bits 8i … 8i+3 and
//            32b + 16 + 4k + i in bits 8i+4 … 8i+7 (the upload reorders AutoAWQ's sequential
//            nibbles), so the Q4 unit (shaders/matmul_q4_unit.wgsl) and the int8 unit
//            (shaders/matmul_i8_q4.wgsl) serve it. Sub-block sb = words 4sb … 4sb+3.
//   scales:  f32 pairs (S, Z) per group, [rows, cols/GROUP, 2]          w = (q − Z) · S
// Bindings are the matmul / embed body's (binding 2 weights, 3 scales, 4 input [n_tok, cols]).
// Threads: the body's (lane l takes sub-blocks l, l+LANES, …); dot_sub handles one 32-element
// sub-block, which never straddles a group (GROUP ≥ 32). dot_sub = S · (Σ q·x − Z · Σ x): codes
// are unpacked a vec4 at a time, products accumulate in vec4 and the scale and zero apply once.

// (S, Z) of the group that holds sub-block `sb` of `row`.
fn awq4_sz(row: u32, sb: u32) -> vec2<f32> {
    let si = 2u * (row * (p.cols / GROUP) + (sb * 32u) / GROUP);
    return vec2<f32>(scales[si], scales[si + 1u]);
}

const AWQ4_LO = vec4<u32>(0u, 8u, 16u, 24u);
const AWQ4_HI = vec4<u32>(4u, 12u, 20u, 28u);

fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + sb * 4u;
    let sz = awq4_sz(row, sb);
    for (var k = 0u; k < 4u; k++) {
        let w = weights[base + k];
        for (var i = 0u; i < 4u; i++) {
            (*v)[4u * k + i] = (f32((w >> (8u * i)) & 0xfu) - sz.y) * sz.x;
            (*v)[16u + 4u * k + i] = (f32((w >> (8u * i + 4u)) & 0xfu) - sz.y) * sz.x;
        }
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let base = row * p.row_words + sb * 4u;
    var s = vec4<f32>(0.0);
    var xs = vec4<f32>(0.0);
    for (var k = 0u; k < 4u; k++) {
        let w = vec4<u32>(weights[base + k]);
        let xl = xbase + 4u * k;
        let a = vec4<f32>(input[xl], input[xl + 1u], input[xl + 2u], input[xl + 3u]);
        let b = vec4<f32>(input[xl + 16u], input[xl + 17u], input[xl + 18u], input[xl + 19u]);
        s += vec4<f32>((w >> AWQ4_LO) & vec4<u32>(0xfu)) * a + vec4<f32>((w >> AWQ4_HI) & vec4<u32>(0xfu)) * b;
        xs += a + b;
    }
    let sz = awq4_sz(row, sb);
    let one = vec4<f32>(1.0);
    return sz.x * (dot(s, one) - sz.y * dot(xs, one));
}

// Unit interface (matmul_w.wgsl): q4_unit and EPW come from shaders/matmul_q4_unit.wgsl (word j
// = word j % 4 of block j / 4); S · (Σ q·x − Z · Σ x).
fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let r = q4_unit(j, weights[row * p.row_words + j], xrow);
    let si = 2u * (row * (p.cols / GROUP) + (32u * (j / 4u)) / GROUP);
    return scales[si] * (r.x - scales[si + 1u] * r.y);
}
