// rope: RoPE in place: for each token t, head h and pair i < rot_dim/2, rotate the pair
// (x[2i], x[2i+1]) (ggml's NORM mode, Llama's GGUF layout; p.halves = 0) or (x[i], x[i+rot_half])
// (NEOX mode, Qwen/Gemma/Phi-3; p.halves = 1) by the angle of the token's position id
// positions[t] (start+t for a dense step; a Mixture-of-Depths prefill gathers the kept tokens'
// original ids).
// Bindings: 0 step: uniform Step   1 p: uniform RopeParams { n_heads, head_dim, rot_half, halves }
//           2 table: storage array<f32> [max_positions, rot_half, 2] = (cos, sin), computed on
//             the CPU at upload with the same f32 formula as the CPU backend
//           3 positions: storage array<u32> [n_tok]
//           4 x: storage array<f32> [n_tok, n_heads·head_dim], rotated in place
// Threads: one per (t, h, i), 64 per workgroup, 1-D.
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct RopeParams { n_heads: u32, head_dim: u32, rot_half: u32, halves: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: RopeParams;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let idx = gid.x;
    let per_tok = p.n_heads * p.rot_half;
    if (idx >= step.n_tok * per_tok) {
        return;
    }
    let t = idx / per_tok;
    let h = (idx % per_tok) / p.rot_half;
    let i = idx % p.rot_half;
    let tb = (positions[t] * p.rot_half + i) * 2u;
    let c = table[tb];
    let s = table[tb + 1u];
    let head = t * p.n_heads * p.head_dim + h * p.head_dim;
    var ia = head + 2u * i;
    var ib = ia + 1u;
    if (p.halves == 1u) {
        ia = head + i;
        ib = ia + p.rot_half;
    }
    let a = x[ia];
    let b = x[ib];
    x[ia] = a * c - b * s;
    x[ib] = a * s + b * c;
}
