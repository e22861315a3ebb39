// rmsnorm: out[t] = x[t] / sqrt(mean(x[t]²) + eps) · weight, for each token of the step.
// Bindings: 0 step: uniform Step { n_tok, start, _, _ }   1 p: uniform NormParams { dim, eps }
//           2 weight: storage array<f32> [dim]   3 input: [n_tok, dim]   4 output: [n_tok, dim]
// Threads: one workgroup of 64 per token; strided sum of squares, tree reduction, then a strided
// write.
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct NormParams { dim: u32, eps: f32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: NormParams;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> input: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.x;
    let base = t * p.dim;
    var s = 0.0;
    if (t < step.n_tok) {
        for (var i = lid.x; i < p.dim; i += 64u) {
            let v = input[base + i];
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
    if (t >= step.n_tok) {
        return;
    }
    let scale = 1.0 / sqrt(red[0] / f32(p.dim) + p.eps);
    for (var i = lid.x; i < p.dim; i += 64u) {
        output[base + i] = input[base + i] * scale * weight[i];
    }
}
