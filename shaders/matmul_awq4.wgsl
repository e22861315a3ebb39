// matmul_awq4: tritium AWQ4_G{32,64,128} (int4 codes, f16 scale S and f16 zero Z per group of
// GROUP input channels) repacked at upload (backend/gpu/weights.rs). One source for the three
// group sizes: the registry (backend/gpu/kernels.rs) injects `const GROUP: u32 = 32u|64u|128u;`.
//   weights: row_words = cols/8 u32 per row; word j of a row holds elements 8j … 8j+7, element
//            8j+i in bits 4i … 4i+3 (sequential nibbles). Sub-block sb = words 4sb … 4sb+3.
//   scales:  f32 pairs (S, Z) per group, [rows, cols/GROUP, 2]          w = (q − Z) · S
// Bindings are the matmul / embed body's (binding 2 weights, 3 scales, 4 input [n_tok, cols]).
// Threads: the body's (8 rows × 8 lanes per workgroup, lane l takes sub-blocks l, l+8, …);
// dot_sub here handles one 32-element sub-block, which never straddles a group (GROUP ≥ 32).
// dot_sub = S · (Σ q·x − Z · Σ x): codes are unpacked a vec4 at a time (one vector shift and
// mask per 4 codes), products accumulate in vec4 and the scale and zero apply once.

// (S, Z) of the group that holds sub-block `sb` of `row`.
fn awq4_sz(row: u32, sb: u32) -> vec2<f32> {
    let si = 2u * (row * (p.cols / GROUP) + (sb * 32u) / GROUP);
    return vec2<f32>(scales[si], scales[si + 1u]);
}

const AWQ4_LO = vec4<u32>(0u, 4u, 8u, 12u);
const AWQ4_HI = vec4<u32>(16u, 20u, 24u, 28u);

fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + sb * 4u;
    let sz = awq4_sz(row, sb);
    for (var i = 0u; i < 4u; i++) {
        let w = weights[base + i];
        for (var k = 0u; k < 8u; k++) {
            (*v)[8u * i + k] = (f32((w >> (4u * k)) & 0xfu) - sz.y) * sz.x;
        }
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let base = row * p.row_words + sb * 4u;
    var s = vec4<f32>(0.0);
    var xs = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        let w = vec4<u32>(weights[base + i]);
        let xl = xbase + 8u * i;
        let a = vec4<f32>(input[xl], input[xl + 1u], input[xl + 2u], input[xl + 3u]);
        let b = vec4<f32>(input[xl + 4u], input[xl + 5u], input[xl + 6u], input[xl + 7u]);
        s += vec4<f32>((w >> AWQ4_LO) & vec4<u32>(0xfu)) * a + vec4<f32>((w >> AWQ4_HI) & vec4<u32>(0xfu)) * b;
        xs += a + b;
    }
    let sz = awq4_sz(row, sb);
    let one = vec4<f32>(1.0);
    return sz.x * (dot(s, one) - sz.y * dot(xs, one));
}

// Unit interface (matmul_w.wgsl): word j = elements 8j … 8j+7; S · (Σ q·x − Z · Σ x). Nibbles
// become floats without integer conversions: bitcast(0x4B000000 | q) = 2^23 + q exactly.
const EPW: u32 = 8u;

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let w = vec4<u32>(weights[row * p.row_words + j]);
    let m = vec4<u32>(0xfu);
    let e = vec4<u32>(0x4B000000u);
    let lo = bitcast<vec4<f32>>(((w >> AWQ4_LO) & m) | e) - vec4<f32>(8388608.0);
    let hi = bitcast<vec4<f32>>(((w >> AWQ4_HI) & m) | e) - vec4<f32>(8388608.0);
    let c = xrow + 8u * j;
    let a = xv(c);
    let b = xv(c + 4u);
    let si = 2u * (row * (p.cols / GROUP) + (8u * j) / GROUP);
    return scales[si] * (dot(lo, a) + dot(hi, b) - scales[si + 1u] * dot(a + b, vec4<f32>(1.0)));
}
