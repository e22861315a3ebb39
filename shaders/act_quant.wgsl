// act_quant: per-token absmax int8 fake-quantization in place, BitNet b1.58's BitLinear input:
// x[t, i] = round_even(x[t, i] / u) · u with u = max_i |x[t, i]| · (1/127) (a row of zeros stays
// zero), the CPU's f32 expression.
// Bindings: 0 step: uniform Step   1 p: uniform EwParams { width, _ }
//           2 x: storage array<f32> [n_tok, width] (read_write)
// Threads: one workgroup of 64 per token; strided max, tree reduction, then a strided rewrite.
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct EwParams { width: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: EwParams;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.x;
    let base = t * p.width;
    var m = 0.0;
    if (t < step.n_tok) {
        for (var i = lid.x; i < p.width; i += 64u) {
            m = max(m, abs(x[base + i]));
        }
    }
    red[lid.x] = m;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k >>= 1u) {
        if (lid.x < k) {
            red[lid.x] = max(red[lid.x], red[lid.x + k]);
        }
        workgroupBarrier();
    }
    if (t >= step.n_tok || red[0] == 0.0) {
        return;
    }
    let u = red[0] * (1.0 / 127.0);
    for (var i = lid.x; i < p.width; i += 64u) {
        x[base + i] = round(x[base + i] / u) * u;
    }
}
