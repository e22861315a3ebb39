// matmul_bits: ggml's 5-bit, k-quant and IQ4 blocks (Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
// IQ4_NL, IQ4_XS), unpacked at upload (quant/kquants.rs) into bit planes and f32 group factors.
//   weights: BITS words per 32-element sub-block; word k holds bit k of the code of element e
//            in bit e. row_words = BITS·cols/32
//   scales:  NS f32 per group of SUB elements (16 or 32): d, then m when NS = 2,
//            [rows, cols/SUB, NS]
//   w = d·IQ4[q] (TABLE), d·q + m (NS = 2) or d·(q − OFFSET)
// The factors are the f32 products ggml's dequantizers form (d·scale, −dmin·min), so the loaded
// weights equal the CPU's bit for bit. Constants from the registry: BITS, SUB, NS, OFFSET, TABLE.
const IQ4 = array<f32, 16>(-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                           1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

fn bits_value(q: u32, d: f32, m: f32) -> f32 {
    if (TABLE) {
        return d * IQ4[q];
    }
    if (NS == 2u) {
        return d * f32(q) + m;
    }
    return d * f32(i32(q) - OFFSET);
}

fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + sb * BITS;
    var planes: array<u32, 8>;
    for (var k = 0u; k < BITS; k++) {
        planes[k] = weights[base + k];
    }
    let g0 = row * (p.cols / SUB) + sb * (32u / SUB);
    for (var h = 0u; h < 32u / SUB; h++) {
        let si = NS * (g0 + h);
        let d = scales[si];
        let m = scales[si + NS - 1u];
        for (var i = 0u; i < SUB; i++) {
            let e = h * SUB + i;
            var q = 0u;
            for (var k = 0u; k < BITS; k++) {
                q |= ((planes[k] >> e) & 1u) << k;
            }
            (*v)[e] = bits_value(q, d, m);
        }
    }
}

fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    var v: array<f32, 32>;
    load_sub(row, sb, &v);
    var s = 0.0;
    for (var i = 0u; i < 32u; i++) {
        s += v[i] * input[xbase + i];
    }
    return s;
}
