// matmul_tq1_0: ggml TQ1_0 (base-3, five trits per byte, 256-element blocks) repacked at upload.
//   weights: 13 words per 256-block = qs[48] then qh[4] (byte i of the block in byte i%4 of word
//            i/4). Trit n of byte B: t = (B · 3^n) mod 256, digit = (t · 3) >> 8.
//            qs[m] (m<32) holds elements m+32n; qs[32+m] holds 160+m+16n; qh[j] holds 240+j+4n.
//   scales:  one f32 d per 256-block, [rows, blocks]          w = d · (digit − 1)
// row_words = 13·blocks. Sub-block s of a block: s<5 → byte m, trit s; s=5,6,7 → byte 32+m%16,
// trit 2(s−5)+m/16, except s=7, m≥16 → qh byte (m−16)%4, trit (m−16)/4.
const POW3 = array<u32, 5>(1u, 3u, 9u, 27u, 81u);

fn tq1_byte(base: u32, i: u32) -> u32 {
    return (weights[base + i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

fn tq1_trit(b: u32, n: u32) -> f32 {
    let t = (b * POW3[n]) & 0xffu;
    return f32(i32((t * 3u) >> 8u) - 1);
}

// Weight m (0..31) of sub-block s (0..7) of the 256-block at word `base`, as −1, 0 or +1.
fn tq1_weight(base: u32, s: u32, m: u32) -> f32 {
    var byte_index: u32;
    var n: u32;
    if (s < 5u) {
        byte_index = m;
        n = s;
    } else if (s < 7u || m < 16u) {
        byte_index = 32u + m % 16u;
        n = 2u * (s - 5u) + m / 16u;
    } else {
        byte_index = 48u + (m - 16u) % 4u;
        n = (m - 16u) / 4u;
    }
    return tq1_trit(tq1_byte(base, byte_index), n);
}

fn load_sub(row: u32, sb: u32, v: ptr<function, array<f32, 32>>) {
    let base = row * p.row_words + (sb / 8u) * 13u;
    let d = scales[row * (p.cols / 256u) + sb / 8u];
    for (var m = 0u; m < 32u; m++) {
        (*v)[m] = tq1_weight(base, sb % 8u, m) * d;
    }
}

// Multiplication-free in the weights: each trit adds, subtracts or skips its input.
fn dot_sub(row: u32, sb: u32, xbase: u32) -> f32 {
    let base = row * p.row_words + (sb / 8u) * 13u;
    var acc = 0.0;
    for (var m = 0u; m < 32u; m++) {
        let t = tq1_weight(base, sb % 8u, m);
        let x = input[xbase + m];
        acc += select(select(0.0, x, t > 0.0), -x, t < 0.0);
    }
    return acc * scales[row * (p.cols / 256u) + sb / 8u];
}
