// matmul_tp: tritium trit planes TP1_G* / TP2_G* (one or two ternary planes, one f16 α per plane
// per group of GROUP input channels) repacked at upload (backend/gpu/weights.rs). One source for
// the six variants: the registry (backend/gpu/kernels.rs) injects `const GROUP: u32 = 32u|64u|128u;`
// and `const PLANES: u32 = 1u|2u;`. It also serves ggml TQ2_0 (GROUP = 256, PLANES = 1): the
// upload reorders each block's 64 `qs` bytes into this layout (the digit is the code) and α = d.
//   weights: per group of GROUP elements, for each plane k (plane 0 first) GROUP/16 u32 words of
//            16 2-bit codes c = t + 1 (c ∈ {0, 1, 2} → t = −1, 0, +1): element 16j + 4s + i of the
//            group in bits 8i+2s … 8i+2s+1 of the plane's word j, so `(w >> 2s) & 0x03030303`
//            holds elements 4s … 4s+3 as packed bytes (what the int8 unit of
//            shaders/matmul_i8_tp.wgsl feeds to dot4I8Packed). row_words = PLANES·cols/16.
//            Sub-block sb (elements 32sb … 32sb+31) = 2 words per plane.
//   scales:  one f32 α per plane per group, [rows, cols/GROUP, PLANES]     w = Σ_k α_k · t_k
// Bindings are the matmul / embed body's (binding 2 weights, 3 scales, 4 input [n_tok, cols]).
// Threads: the body's (8 rows × 8 lanes per workgroup, lane l takes sub-blocks l, l+8, …);
// dot_sub here handles one 32-element sub-block, which never straddles a group (GROUP ≥ 32).
// Multiplication-free inside the sub-block: each code selects +x, −x or nothing (Σ t·x =
// Σ_{c=2} x − Σ_{c=0} x, four codes per vector select); each plane's sum is multiplied by its α
// once. The 32 inputs are read once and shared by the planes.

// Word index of plane 0's first word for sub-block `sb` of `row`, and the α index of plane 0.
fn tp_base(row: u32, sb: u32) -> vec2<u32> {
    let e = sb * 32u;
    let g = e / GROUP;
    let words = row * p.row_words + g * PLANES * (GROUP / 16u) + (e % GROUP) / 16u;
    return vec2<u32>(words, (row * (p.cols / GROUP) + g) * PLANES);
}

// Bit offsets of elements 4s … 4s+3 of a word: TP_SHIFT + 2s.
const TP_SHIFT = vec4<u32>(0u, 8u, 16u, 24u);

fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let b = tp_base(row, sb);
    for (var m = 0u; m < 32u; m++) {
        (*v)[m] = 0.0;
    }
    for (var k = 0u; k < PLANES; k++) {
        let a = scales[b.y + k];
        for (var i = 0u; i < 2u; i++) {
            let w = weights[b.x + k * (GROUP / 16u) + i];
            for (var m = 0u; m < 16u; m++) {
                let c = (w >> (8u * (m % 4u) + 2u * (m / 4u))) & 3u;
                (*v)[16u * i + m] += select(select(0.0, a, c == 2u), -a, c == 0u);
            }
        }
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let b = tp_base(row, sb);
    let z = vec4<f32>(0.0);
    var s0 = z;
    var s1 = z;
    for (var i = 0u; i < 2u; i++) {
        let w0 = vec4<u32>(weights[b.x + i]);
        var w1 = vec4<u32>(0u);
        if (PLANES > 1u) {
            w1 = vec4<u32>(weights[b.x + GROUP / 16u + i]);
        }
        for (var j = 0u; j < 4u; j++) {
            let xl = xbase + 16u * i + 4u * j;
            let x = vec4<f32>(input[xl], input[xl + 1u], input[xl + 2u], input[xl + 3u]);
            let sh = TP_SHIFT + 2u * j;
            let c0 = (w0 >> sh) & vec4<u32>(3u);
            s0 += select(z, x, c0 == vec4<u32>(2u)) - select(z, x, c0 == vec4<u32>(0u));
            if (PLANES > 1u) {
                let c1 = (w1 >> sh) & vec4<u32>(3u);
                s1 += select(z, x, c1 == vec4<u32>(2u)) - select(z, x, c1 == vec4<u32>(0u));
            }
        }
    }
    var acc = scales[b.y] * (s0.x + s0.y + s0.z + s0.w);
    if (PLANES > 1u) {
        acc += scales[b.y + 1u] * (s1.x + s1.y + s1.z + s1.w);
    }
    return acc;
}

// Unit interface (matmul_w.wgsl): unit j = plane-0 word j of the row's sequence (elements
// 16j … 16j+15, group g = 16j / GROUP) and, with two planes, the matching plane-1 word.
// Multiplication-free: each code adds, subtracts or skips its x; α multiplies each plane's sum.
const EPW: u32 = 16u;

fn dot_unit(row: u32, j: u32, xrow: u32) -> f32 {
    let wpg = GROUP / 16u;
    let g = j / wpg;
    let wi = row * p.row_words + g * PLANES * wpg + j % wpg;
    let w0 = vec4<u32>(weights[wi]);
    var w1 = vec4<u32>(0u);
    if (PLANES > 1u) {
        w1 = vec4<u32>(weights[wi + wpg]);
    }
    let z = vec4<f32>(0.0);
    var s0 = z;
    var s1 = z;
    for (var q = 0u; q < 4u; q++) {
        let x = xv(xrow + 16u * j + 4u * q);
        let sh = TP_SHIFT + 2u * q;
        let c0 = (w0 >> sh) & vec4<u32>(3u);
        s0 += select(z, x, c0 == vec4<u32>(2u)) - select(z, x, c0 == vec4<u32>(0u));
        if (PLANES > 1u) {
            let c1 = (w1 >> sh) & vec4<u32>(3u);
            s1 += select(z, x, c1 == vec4<u32>(2u)) - select(z, x, c1 == vec4<u32>(0u));
        }
    }
    let ai = (row * (p.cols / GROUP) + g) * PLANES;
    let one = vec4<f32>(1.0);
    var acc = scales[ai] * dot(s0, one);
    if (PLANES > 1u) {
        acc += scales[ai + 1u] * dot(s1, one);
    }
    return acc;
}
