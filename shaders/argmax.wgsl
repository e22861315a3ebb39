// argmax: the index of the largest logit (the first on ties), for greedy decoding on the GPU.
// Bindings: 0 step: uniform Step (unused but shared layout)   1 p: uniform EwParams { width = vocab }
//           2 logits: storage array<f32> [vocab]   3 result: storage array<u32> [1]
// Threads: one workgroup of 256: strided scan, then a tree reduction over (value, index).
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct EwParams { width: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: EwParams;
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> result: array<u32>;

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    var bv = -3.4e38;
    var bi = 0xffffffffu;
    for (var i = lid.x; i < p.width; i += 256u) {
        let v = logits[i];
        if (v > bv) {
            bv = v;
            bi = i;
        }
    }
    best_v[lid.x] = bv;
    best_i[lid.x] = bi;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k >>= 1u) {
        if (lid.x < k) {
            let ov = best_v[lid.x + k];
            let oi = best_i[lid.x + k];
            if (ov > best_v[lid.x] || (ov == best_v[lid.x] && oi < best_i[lid.x])) {
                best_v[lid.x] = ov;
                best_i[lid.x] = oi;
            }
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        result[0] = best_i[0];
    }
}
