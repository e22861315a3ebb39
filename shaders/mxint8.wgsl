// mxint8: one 32-element block of activations → int8 codes in the OCP Microscaling MXINT8 form
// (appended by the registry to shaders/quantize_i8.wgsl and shaders/matmul_x_i8s.wgsl, so the
// separate quantize pass and the in-workgroup one produce the same bits). The block gets a
// power-of-two scale d = 2^(⌊log2 max|x|⌋ − 6), taken from max|x|'s exponent bits, and codes
// q = round(x / d) (ties to even, saturated to ±127); all zero when max|x| < 2^-100 (or is not
// finite). x / d is a multiplication by a power of two, exact on every adapter, so the codes equal
// the CPU reference's (backend/cpu `quantize_i8`) bit for bit.
//   in:  v[k] = x[4k … 4k+3] of the block
//   out: q[k] = codes of elements 4k … 4k+3 (element 4k+i in byte i, two's complement), d, Σq
struct I8Block { q: array<u32, 8>, d: f32, sum: f32 }

fn mxint8(v: array<vec4<f32>, 8>) -> I8Block {
    var m = vec4<f32>(0.0);
    for (var k = 0u; k < 8u; k++) {
        m = max(m, abs(v[k]));
    }
    let amax = max(max(m.x, m.y), max(m.z, m.w));
    let e = (bitcast<u32>(amax) >> 23u) & 0xffu;
    var inv = 0.0;
    var r: I8Block;
    r.d = 0.0;
    if (e >= 27u && e < 255u) {
        inv = bitcast<f32>((260u - e) << 23u);
        r.d = bitcast<f32>((e - 6u) << 23u);
    }
    var sum = 0i;
    for (var k = 0u; k < 8u; k++) {
        let q = clamp(vec4<i32>(round(v[k] * inv)), vec4<i32>(-127), vec4<i32>(127));
        sum += q.x + q.y + q.z + q.w;
        let b = vec4<u32>(bitcast<vec4<u32>>(q) & vec4<u32>(0xffu)) << vec4<u32>(0u, 8u, 16u, 24u);
        r.q[k] = b.x | b.y | b.z | b.w;
    }
    r.sum = f32(sum);
    return r;
}
