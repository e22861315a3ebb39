// scale_cap: x[i] = softcap(x[i] · scale) over the step's [n_tok, width] values, softcap(v) =
// cap · tanh(v / cap) when cap > 0 (Gemma's embedding scale √dim; Gemma 2's final-logit
// soft-capping).
// Bindings: 0 step: uniform Step   1 p: uniform ScaleParams { width, scale, cap, _ }
//           2 x: storage array<f32> (read_write)
// Threads: one per element, 64 per workgroup; 2-D folded (x + y·65535·64).
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct ScaleParams { width: u32, scale: f32, cap: f32, pad0: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: ScaleParams;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * 65535u * 64u;
    if (i >= step.n_tok * p.width) {
        return;
    }
    var v = x[i] * p.scale;
    if (p.cap > 0.0) {
        v = p.cap * tanh(v / p.cap);
    }
    x[i] = v;
}
