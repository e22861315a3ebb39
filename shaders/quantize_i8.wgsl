// quantize_i8: int8 activations for the int8 matmul units (tiles `…i`; shaders/matmul_x_i8.wgsl
// documents the output), in the OCP Microscaling MXINT8 form: each 32-element block of the
// step's [n_tok, cols] input gets a power-of-two scale d = 2^(⌊log2 max|x|⌋ − 6), taken from
// max|x|'s exponent bits, and codes q = round(x / d) (ties to even, saturated to ±127); all zero
// when max|x| < 2^-100 (or is not finite). x / d is a multiplication by a power of two, exact on
// every adapter, so the codes equal the CPU reference's (backend/cpu `quantize_i8`) bit for bit.
// Bindings: 0 step: uniform Step   1 p: uniform QParams { cols, blocks (= cols / 32), _ }
//           2 x: storage array<f32> [n_tok, cols]   3 out: storage array<u32> [n_tok · blocks · 10]
// Threads: one per block, 64 per workgroup; 2-D folded (x + y·65535·64) like the elementwise ops.
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct QParams { cols: u32, blocks: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: QParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * 65535u * 64u;
    if (i >= step.n_tok * p.blocks) {
        return;
    }
    let base = i * 32u;
    var m = vec4<f32>(0.0);
    for (var k = 0u; k < 8u; k++) {
        let v = vec4<f32>(x[base + 4u * k], x[base + 4u * k + 1u], x[base + 4u * k + 2u], x[base + 4u * k + 3u]);
        m = max(m, abs(v));
    }
    let amax = max(max(m.x, m.y), max(m.z, m.w));
    let e = (bitcast<u32>(amax) >> 23u) & 0xffu;
    var inv = 0.0;
    var d = 0.0;
    if (e >= 27u && e < 255u) {
        inv = bitcast<f32>((260u - e) << 23u);
        d = bitcast<f32>((e - 6u) << 23u);
    }
    var sum = 0i;
    for (var k = 0u; k < 8u; k++) {
        let v = vec4<f32>(x[base + 4u * k], x[base + 4u * k + 1u], x[base + 4u * k + 2u], x[base + 4u * k + 3u]);
        let q = clamp(vec4<i32>(round(v * inv)), vec4<i32>(-127), vec4<i32>(127));
        sum += q.x + q.y + q.z + q.w;
        let b = vec4<u32>(bitcast<vec4<u32>>(q) & vec4<u32>(0xffu)) << vec4<u32>(0u, 8u, 16u, 24u);
        out[i * 10u + k] = b.x | b.y | b.z | b.w;
    }
    out[i * 10u + 8u] = bitcast<u32>(d);
    out[i * 10u + 9u] = bitcast<u32>(f32(sum));
}
