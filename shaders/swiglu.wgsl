// swiglu: gate[i] = f(gate[i]) · up[i] over the step's [n_tok, ffn_dim] activations, in place;
// f = SiLU (SwiGLU) when p.mode is 0, GELU's tanh approximation (GeGLU, Gemma) when 1, squared
// ReLU (BitNet b1.58) when 2.
// Bindings: 0 step: uniform Step   1 p: uniform EwParams { width (elements per token), mode, _ }
//           2 up: storage array<f32>   3 gate: storage array<f32> (read_write)
// Threads: one per element, 64 per workgroup; 2-D folded (x + y·65535·64).
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct EwParams { width: u32, mode: u32, pad1: u32, pad2: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: EwParams;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> gate: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * 65535u * 64u;
    if (i >= step.n_tok * p.width) {
        return;
    }
    let g = gate[i];
    if (p.mode == 2u) {
        let r = max(g, 0.0);
        gate[i] = r * r * up[i];
    } else if (p.mode == 1u) {
        // The CPU's f32 expression; tanh saturates for |g| large, so no overflow.
        gate[i] = 0.5 * g * (1.0 + tanh(0.7978846 * g * (1.0 + 0.044715 * g * g))) * up[i];
    } else {
        gate[i] = g / (1.0 + exp(-g)) * up[i];
    }
}
