// sample: temperature → top-k → top-p → one seeded draw, on the GPU, so sampled decoding reads
// back only the token id. The same steps as the CPU sampler (crate/src/model/sampler.rs,
// `sample_with`): candidates ordered by logit (descending, ties by id), probabilities
// exp((l − l_max)/T) over the top k, the smallest prefix whose mass reaches top_p, then the first
// candidate where the running mass exceeds r · (kept mass); r ∈ [0, 1) comes from the CPU's
// seeded generator, so a seed gives the same tokens on both paths.
// Bindings: 0 step: uniform Step (unused; shared layout)
//           1 p: uniform SampleParams { vocab, k (1 … 256), inv_t (f32 bits), top_p (f32 bits),
//                                       r (f32 bits), _, _, _ }
//           2 logits: storage array<f32> [vocab]   3 result: storage array<u32> [1]
// Threads: one workgroup of 256. Top-k by k rounds of a parallel arg-max over the candidates
// that come after the previous round's pick in that order (each thread scans a stride of the
// vocabulary; a tree reduction picks the round's best); thread 0 then does the k-long serial part.
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct SampleParams { vocab: u32, k: u32, inv_t: f32, top_p: f32, r: f32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: SampleParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> result: array<u32>;

const MAXK: u32 = 256u;
var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;
var<workgroup> top_v: array<f32, MAXK>;
var<workgroup> top_i: array<u32, MAXK>;

// (v, i) comes before (w, j): larger logit first, then smaller id.
fn before(v: f32, i: u32, w: f32, j: u32) -> bool {
    return v > w || (v == w && i < j);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let k = clamp(p.k, 1u, min(MAXK, p.vocab));
    var pv = 3.4e38;
    var pi = 0xffffffffu;
    for (var round = 0u; round < k; round++) {
        var bv = -3.4e38;
        var bi = 0xffffffffu;
        for (var i = lid.x; i < p.vocab; i += 256u) {
            let v = logits[i];
            // Only candidates after the previous pick; among them the first in the order.
            if (before(pv, pi, v, i) && (bi == 0xffffffffu || before(v, i, bv, bi))) {
                bv = v;
                bi = i;
            }
        }
        best_v[lid.x] = bv;
        best_i[lid.x] = bi;
        workgroupBarrier();
        for (var s = 128u; s > 0u; s >>= 1u) {
            if (lid.x < s) {
                let ov = best_v[lid.x + s];
                let oi = best_i[lid.x + s];
                if (oi != 0xffffffffu && (best_i[lid.x] == 0xffffffffu || before(ov, oi, best_v[lid.x], best_i[lid.x]))) {
                    best_v[lid.x] = ov;
                    best_i[lid.x] = oi;
                }
            }
            workgroupBarrier();
        }
        pv = best_v[0];
        pi = best_i[0];
        if (lid.x == 0u) {
            top_v[round] = pv;
            top_i[round] = pi;
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        let vmax = top_v[0] * p.inv_t;
        var sum = 0.0;
        for (var i = 0u; i < k; i++) {
            sum += exp(top_v[i] * p.inv_t - vmax);
        }
        var keep = k;
        if (p.top_p < 1.0) {
            var acc = 0.0;
            for (var i = 0u; i < k; i++) {
                acc += exp(top_v[i] * p.inv_t - vmax) / sum;
                if (acc >= p.top_p) {
                    keep = i + 1u;
                    break;
                }
            }
        }
        var total = 0.0;
        for (var i = 0u; i < keep; i++) {
            total += exp(top_v[i] * p.inv_t - vmax) / sum;
        }
        var r = p.r * total;
        var pick = top_i[keep - 1u];
        for (var i = 0u; i < keep; i++) {
            r -= exp(top_v[i] * p.inv_t - vmax) / sum;
            if (r < 0.0) {
                pick = top_i[i];
                break;
            }
        }
        result[0] = pick;
    }
}
