// rmsnorm_heads: RMSNorm of each head in place, x[r] = x[r] / sqrt(mean(x[r]²) + eps) · weight,
// for the rows r of head_dim elements of the step's [n_tok, heads, head_dim] activations (the
// per-head query and key norms of Qwen 3 and Gemma 3).
// Bindings: 0 step: uniform Step   1 p: uniform NormParams { head_dim, eps, heads, _ }
//           2 weight: storage array<f32> [head_dim]   3 x: storage array<f32> (read_write)
// Threads: one workgroup of 64 per row (workgroup x = row); strided sum of squares, tree
// reduction, then a strided write.
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct NormParams { dim: u32, eps: f32, heads: u32, pad0: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: NormParams;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = wid.x;
    let live = r < step.n_tok * p.heads;
    let base = r * p.dim;
    var s = 0.0;
    if (live) {
        for (var i = lid.x; i < p.dim; i += 64u) {
            let v = x[base + i];
            s += v * v;
        }
    }
    red[lid.x] = s;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k >>= 1u) {
        if (lid.x < k) {
            red[lid.x] += red[lid.x + k];
        }
        workgroupBarrier();
    }
    if (!live) {
        return;
    }
    let scale = 1.0 / sqrt(red[0] / f32(p.dim) + p.eps);
    for (var i = lid.x; i < p.dim; i += 64u) {
        x[base + i] = x[base + i] * scale * weight[i];
    }
}
