// matmul: y[t][row] = Σ_c W[row][c] · x[t][c] for the tokens of one step, any weight format.
//
// This is the format-independent body; the registry (backend/gpu/kernels.rs) prepends one
// `matmul_<format>.wgsl` file that defines `dot_sub(row, sb, xbase)`: the dot product of the 32
// weights of sub-block `sb` (elements 32·sb … 32·sb+31) of row `row` of the shard with
// input[xbase … xbase+31], dequantized on the fly (and `load_sub`, used by embed.wgsl).
//
// Bindings (group 0):
//   0 step:    uniform Step { n_tok, start, _, _ }          tokens in this step, first position
//   1 p:       uniform MatParams { rows, cols, row_words, fold_x, row_offset, out_rows, _, _ }
//   2 weights: storage array<u32>   repacked quants of this shard, `row_words` u32 per row
//   3 scales:  storage array<f32>   per-block scales (format-specific layout)
//   4 input:   storage array<f32>   [n_tok, cols]
//   5 output:  storage array<f32>   [n_tok, out_rows]; this shard writes rows row_offset ..
// `fold_x` counts workgroups (of 8 rows) per dispatch row.
// Threads: a workgroup of 64 = 8 rows × 8 lanes; workgroup (x + y·fold_x) holds rows
// 8·(x + y·fold_x) … +7 (2-D fold: at most 65,535 workgroups per dimension), z is the token.
// Lane l of a row takes sub-blocks l, l+8, …; a 3-step reduction in workgroup memory sums the
// lanes. Weights are re-read per token (z): decode is the case this kernel is shaped for.

struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct MatParams { rows: u32, cols: u32, row_words: u32, fold_x: u32, row_offset: u32, out_rows: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatParams;
@group(0) @binding(2) var<storage, read> weights: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> input: array<f32>;
@group(0) @binding(5) var<storage, read_write> output: array<f32>;

const ROWS: u32 = 8u;
const LANES: u32 = 8u;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let lane = lid.x % LANES;
    let row = (wid.x + wid.y * p.fold_x) * ROWS + lid.x / LANES;
    let t = wid.z;
    let nsb = (p.cols + 31u) / 32u;
    var acc = 0.0;
    if (row < p.rows && t < step.n_tok) {
        for (var sb = lane; sb < nsb; sb += LANES) {
            acc += dot_sub(row, sb, t * p.cols + sb * 32u);
        }
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            partial[lid.x] += partial[lid.x + s];
        }
        workgroupBarrier();
    }
    if (lane == 0u && row < p.rows && t < step.n_tok) {
        output[t * p.out_rows + p.row_offset + row] = partial[lid.x];
    }
}
