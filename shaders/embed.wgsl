// embed: out[t][c] = W[tokens[t]][c], the embedding rows of this step's tokens, any format.
//
// Format-independent body; the registry prepends `matmul_<format>.wgsl` (which defines
// `load_sub`). Uses the same bindings as matmul (the same weight shard and params), with
// binding 4 holding the token ids instead of activations:
//   0 step: uniform Step   1 p: uniform MatParams   2 weights   3 scales
//   4 tokens: storage array<u32> [n_tok]          5 output: storage array<f32> [n_tok, cols]
// Threads: one workgroup of 64 per token (workgroup x); each thread writes sub-blocks
// lid, lid+64, …; rows outside this shard (row_offset .. row_offset+rows) are skipped.

struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct MatParams { rows: u32, cols: u32, row_words: u32, fold_x: u32, row_offset: u32, out_rows: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatParams;
@group(0) @binding(2) var<storage, read> weights: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> tokens: array<u32>;
@group(0) @binding(5) var<storage, read_write> output: array<f32>;
// The format file's `dot_sub` (used by matmul) names `input`; embed never calls it.
var<private> input: array<f32, 32>;

// x[c … c+3] (the format files' `dot_unit`, used by matmul_w.wgsl, reads x through this).
fn xv(c: u32) -> vec4<f32> {
    return vec4<f32>(input[c], input[c + 1u], input[c + 2u], input[c + 3u]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = wid.x;
    if (t >= step.n_tok) {
        return;
    }
    let tok = tokens[t];
    if (tok < p.row_offset || tok >= p.row_offset + p.rows) {
        return;
    }
    let row = tok - p.row_offset;
    let nsb = (p.cols + 31u) / 32u;
    var v: array<f32, 32>;
    for (var sb = lid.x; sb < nsb; sb += 64u) {
        load_sub(row, sb, &v);
        let c0 = sb * 32u;
        for (var j = 0u; j < min(32u, p.cols - c0); j++) {
            output[t * p.cols + c0 + j] = v[j];
        }
    }
}
