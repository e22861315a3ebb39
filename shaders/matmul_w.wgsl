// matmul_w: y[t][row] = Σ_c W[row][c] · x[t][c], word-interleaved thread mapping for hardware GPUs.
//
// The same bindings and MatParams as matmul.wgsl (see there); the registry appends one
// `matmul_<format>.wgsl` file that defines, besides `dot_sub`/`load_sub`, the unit interface:
//   const EPW: u32        elements covered by one unit (1 f32, 2 f16/bf16, 4 Q8_0, 8 4-bit
//                         formats, 16 trit planes); a row has ⌈cols / EPW⌉ units;
//   fn dot_unit(row, j, xrow) -> f32   the contribution of unit j of `row` to the dot product
//                         with the token row that starts at element xrow of the input (one u32
//                         word of the row per unit; f32 four, f16/bf16 two; the trit planes one
//                         word per plane). It reads x four elements at a time with `xv(c)`.
// With f32 activations the input is bound as vec4<f32> (16-byte loads), so the registry uses
// this body only when cols is a multiple of 4 (every quantized format; f32/f16/bf16 rows of other
// widths take the sub-block body). With int8 activations (tiles `…i`) the unit is one 32-element
// block and the format's int8 unit file (shaders/matmul_i8_*.wgsl) replaces the format file.
// The registry injects the tile as constants (ROWS, LANES, TB; see matmul.wgsl).
//
// Threads: ROWS·LANES per workgroup; lane l of a row takes units l, l+LANES, l+2·LANES, …, so a
// warp's loads of weights are consecutive words and its loads of x are consecutive elements
// (coalesced; the sub-block mapping of matmul.wgsl puts 32 elements between neighbouring lanes,
// which hardware GPUs serve one cache line per lane). Four units per iteration keep four
// independent loads in flight per thread. For TB > 1 each unit is applied to TB tokens while its
// word is in cache, so the weights stream from memory once per TB tokens.

struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct MatParams { rows: u32, cols: u32, row_words: u32, fold_x: u32, row_offset: u32, out_rows: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: MatParams;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
// binding 2 (the weights) and binding 4 (the input) are declared by the activation piece the
// registry appends (the f32 units read the weights as u32 words `weights`, the int8 units as
// 16-byte words `weights4`):
// shaders/matmul_x_f32.wgsl (f32, read as vec4), shaders/matmul_x_i8.wgsl (int8 blocks) or
// shaders/matmul_x_i8s.wgsl (f32, quantized to int8 blocks in workgroup memory first; decode).
@group(0) @binding(5) var<storage, read_write> output: array<f32>;

// WG, `partial` and reduce_store: shaders/matmul_reduce.wgsl (appended by the registry).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let lane = lid.x % LANES;
    let row = (wid.x + wid.y * p.fold_x) * ROWS + lid.x / LANES;
    let t0 = wid.z * TB;
    let nt = min(TB, step.n_tok - min(t0, step.n_tok));
    let units = (p.cols + EPW - 1u) / EPW;
    // The activation piece's staging (the in-workgroup int8 quantization of matmul_x_i8s.wgsl;
    // nothing for the others), in uniform control flow since it may end in a barrier.
    stage_x(lid.x);
    var acc: array<f32, TB>;
    if (row < p.rows && nt > 0u) {
        if (TB == 1u) {
            let xr = t0 * p.cols;
            var a0 = 0.0;
            var a1 = 0.0;
            var a2 = 0.0;
            var a3 = 0.0;
            var j = lane;
            for (; j + 3u * LANES < units; j += 4u * LANES) {
                a0 += dot_unit(row, j, xr);
                a1 += dot_unit(row, j + LANES, xr);
                a2 += dot_unit(row, j + 2u * LANES, xr);
                a3 += dot_unit(row, j + 3u * LANES, xr);
            }
            for (; j < units; j += LANES) {
                a0 += dot_unit(row, j, xr);
            }
            acc[0] = (a0 + a1) + (a2 + a3);
        } else {
            for (var j = lane; j < units; j += LANES) {
                for (var t = 0u; t < TB; t++) {
                    if (t < nt) {
                        acc[t] += dot_unit(row, j, (t0 + t) * p.cols);
                    }
                }
            }
        }
    }
    reduce_store(lid.x, lane, row, t0, nt, acc);
}
