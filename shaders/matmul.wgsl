// matmul: y[t][row] = Σ_c W[row][c] · x[t][c] for the tokens of one step, any weight format.
//
// This is the format-independent body; the registry (backend/gpu/kernels.rs) appends one
// `matmul_<format>.wgsl` file that defines `dot_sub(row, sb, xbase)`: the dot product of the 32
// weights of sub-block `sb` (elements 32·sb … 32·sb+31) of row `row` of the shard with
// input[xbase … xbase+31], dequantized on the fly, and `load_sub(row, sb, &v)`: the same 32
// weights dequantized into `v` (used here for token tiles and by embed.wgsl).
//
// The tile is injected by the registry as constants (one pipeline per tile):
//   ROWS   rows per workgroup          LANES  threads per row (a power of two)
//   TB     tokens per workgroup: 1 = matrix-vector (decode: `dot_sub`, weights read once per
//          token); > 1 = matrix-matrix (prefill: each sub-block is dequantized once with
//          `load_sub` and multiplied by TB token vectors, so the weights are read ⌈n/TB⌉ times).
//
// Bindings (group 0):
//   0 step:    uniform Step { n_tok, start, _, _ }          tokens in this step, first position
//   1 p:       uniform MatParams { rows, cols, row_words, fold_x, row_offset, out_rows, _, _ }
//   2 weights: storage array<u32>   repacked quants of this shard, `row_words` u32 per row
//   3 scales:  storage array<f32>   per-block scales (format-specific layout)
//   4 input:   storage array<f32>   [n_tok, cols]
//   5 output:  storage array<f32>   [n_tok, out_rows]; this shard writes rows row_offset ..
// `fold_x` counts workgroups (of ROWS rows) per dispatch row.
// Threads: a workgroup of ROWS·LANES; workgroup (x + y·fold_x) holds rows ROWS·(x + y·fold_x) …
// +ROWS−1 (2-D fold: at most 65,535 workgroups per dimension); z is the token tile (tokens
// TB·z … TB·z+TB−1). Lane l of a row takes sub-blocks l, l+LANES, … (consecutive lanes read
// consecutive sub-blocks: coalesced); a tree reduction in workgroup memory sums the lanes.

struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct MatParams { rows: u32, cols: u32, row_words: u32, fold_x: u32, row_offset: u32, out_rows: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatParams;
@group(0) @binding(2) var<storage, read> weights: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> input: array<f32>;
@group(0) @binding(5) var<storage, read_write> output: array<f32>;

// x[c … c+3] (the format files' `dot_unit`, used by matmul_w.wgsl, reads x through this).
fn xv(c: u32) -> vec4<f32> {
    return vec4<f32>(input[c], input[c + 1u], input[c + 2u], input[c + 3u]);
}

// WG, `partial` and reduce_store: shaders/matmul_reduce.wgsl (appended by the registry).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let lane = lid.x % LANES;
    let row = (wid.x + wid.y * p.fold_x) * ROWS + lid.x / LANES;
    let t0 = wid.z * TB;
    let nt = min(TB, step.n_tok - min(t0, step.n_tok));
    let nsb = (p.cols + 31u) / 32u;
    var acc: array<f32, TB>;
    if (row < p.rows && nt > 0u) {
        if (TB == 1u) {
            for (var sb = lane; sb < nsb; sb += LANES) {
                acc[0] += dot_sub(row, sb, t0 * p.cols + sb * 32u);
            }
        } else {
            var w: array<f32, 32>;
            for (var sb = lane; sb < nsb; sb += LANES) {
                load_sub(row, sb, &w);
                let c0 = sb * 32u;
                let lim = min(32u, p.cols - c0);
                for (var t = 0u; t < TB; t++) {
                    if (t < nt) {
                        let xb = (t0 + t) * p.cols + c0;
                        var s = 0.0;
                        if (lim == 32u) {
                            for (var i = 0u; i < 32u; i++) {
                                s += w[i] * input[xb + i];
                            }
                        } else {
                            for (var i = 0u; i < lim; i++) {
                                s += w[i] * input[xb + i];
                            }
                        }
                        acc[t] += s;
                    }
                }
            }
        }
    }
    reduce_store(lid.x, lane, row, t0, nt, acc);
}
