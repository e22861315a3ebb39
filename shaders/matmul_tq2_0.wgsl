// matmul_tq2_0: ggml TQ2_0 (2-bit ternary digits, 256-element blocks) repacked at upload.
//   weights: 16 words per 256-block = the 64 `qs` bytes; byte 32h+m holds element 128h+32l+m
//            in bits 2l..2l+1 (digit 0,1,2 → −1,0,+1). row_words = 16·blocks
//   scales:  one f32 d per 256-block, [rows, blocks]          w = d · (digit − 1)
// Multiplication-free in spirit: the digit selects −d, 0 or +d.
fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let blk = sb / 8u;
    let s = sb % 8u;
    let h = s / 4u;
    let l = s % 4u;
    let base = row * p.row_words + blk * 16u + h * 8u;
    let d = scales[row * (p.cols / 256u) + blk];
    for (var i = 0u; i < 8u; i++) {
        let w = weights[base + i];
        for (var k = 0u; k < 4u; k++) {
            let q = (w >> (8u * k + 2u * l)) & 3u;
            (*v)[4u * i + k] = select(select(0.0, d, q == 2u), -d, q == 0u);
        }
    }
}

// Multiplication-free: each weight adds, subtracts or skips its input; one scale per sub-block.
fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let blk = sb / 8u;
    let s = sb % 8u;
    let base = row * p.row_words + blk * 16u + (s / 4u) * 8u;
    let shift = 2u * (s % 4u);
    var acc = 0.0;
    for (var i = 0u; i < 8u; i++) {
        let w = weights[base + i];
        for (var k = 0u; k < 4u; k++) {
            let q = (w >> (8u * k + shift)) & 3u;
            let x = input[xbase + 4u * i + k];
            acc += select(select(0.0, x, q == 2u), -x, q == 0u);
        }
    }
    return acc * scales[row * (p.cols / 256u) + blk];
}
