// bias: x[t, i] += b[i] over the step's [n_tok, width] activations (a linear's bias, Qwen 2's
// q, k and v).
// Bindings: 0 step: uniform Step   1 p: uniform EwParams { width, _ }
//           2 b: storage array<f32> [width]   3 x: storage array<f32> (read_write)
// Threads: one per element, 64 per workgroup; 2-D folded (x + y·65535·64).
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct EwParams { width: u32, pad0: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: EwParams;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * 65535u * 64u;
    if (i >= step.n_tok * p.width) {
        return;
    }
    x[i] += b[i % p.width];
}
