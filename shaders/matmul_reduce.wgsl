// matmul_reduce: the epilogue shared by the matmul bodies (matmul.wgsl, matmul_w.wgsl), appended
// by the registry. A workgroup holds ROWS rows × LANES lanes (WG threads); each thread brings its
// partial sums for the workgroup's TB tokens; a tree reduction in workgroup memory sums the lanes
// of a row and lane 0 writes output[t0 + t][row_offset + row] for the nt tokens present.
// Call from uniform control flow (it has barriers).

const WG: u32 = ROWS * LANES;
var<workgroup> partial: array<f32, WG * TB>;

fn reduce_store(lid: u32, lane: u32, row: u32, t0: u32, nt: u32, acc: array<f32, TB>) {
    for (var t = 0u; t < TB; t++) {
        partial[t * WG + lid] = acc[t];
    }
    workgroupBarrier();
    for (var s = LANES / 2u; s > 0u; s >>= 1u) {
        if (lane < s) {
            for (var t = 0u; t < TB; t++) {
                partial[t * WG + lid] += partial[t * WG + lid + s];
            }
        }
        workgroupBarrier();
    }
    if (lane == 0u && row < p.rows) {
        for (var t = 0u; t < nt; t++) {
            output[(t0 + t) * p.out_rows + p.row_offset + row] = partial[t * WG + lid];
        }
    }
}
