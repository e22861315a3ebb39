//! Weight upload: ggml blocks repacked into 4-byte-aligned segments (quants as `u32` words, scales
//! as `f32`), split into shards of whole rows so no binding exceeds `maxStorageBufferBindingSize`.
//! The per-format layouts are documented in each shaders/matmul_<format>.wgsl header.

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::quant::QMatrix;
use crate::quant::{kquants, GgmlType};

/// One shard: rows `row_offset .. row_offset + rows` of a weight matrix.
pub struct Shard {
    pub row_offset: usize,
    pub rows: usize,
    pub weights: wgpu::Buffer,
    pub scales: wgpu::Buffer,
}

pub struct GpuWeight {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub row_words: usize,
    pub shards: Vec<Shard>,
}

impl GpuWeight {
    pub fn bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.weights.size() + s.scales.size()).sum()
    }
}

/// u32 words and f32 scales per row of a `cols`-wide row in format `ty`.
pub fn row_layout(ty: GgmlType, cols: usize) -> (usize, usize) {
    let pad32 = cols.div_ceil(32) * 32;
    match ty {
        GgmlType::F32 => (pad32, 0),
        GgmlType::F16 | GgmlType::BF16 => (pad32 / 2, 0),
        GgmlType::Q8_0 => (cols / 32 * 8, cols / 32),
        GgmlType::Q4_0 => (cols / 32 * 4, cols / 32),
        GgmlType::Q4_1 => (cols / 32 * 4, cols / 32 * 2),
        // TQ2_0 is repacked into the TP layout (one plane, group 256; matmul_tp.wgsl).
        GgmlType::TQ2_0 => (cols / 256 * 16, cols / 256),
        GgmlType::TQ1_0 => (cols / 256 * 13, cols / 256),
        // AWQ4_G*: ggml's Q4 nibble layout per 32 elements; (S, Z) f32 pair per group.
        GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128 => (cols / 8, cols / ty.block_size() * 2),
        // TP*: per group, each plane's g/16 words of 16 2-bit codes ([`tp_bit`]); one f32 α per plane.
        GgmlType::TP1_G32
        | GgmlType::TP1_G64
        | GgmlType::TP1_G128
        | GgmlType::TP2_G32
        | GgmlType::TP2_G64
        | GgmlType::TP2_G128 => (ty.planes() * cols / 16, ty.planes() * cols / ty.block_size()),
        // 5-bit, k-quant and IQ4 blocks: bit planes (BITS words per 32 elements) and f32 (d[, m])
        // per group (shaders/matmul_bits.wgsl).
        GgmlType::Q5_0
        | GgmlType::Q5_1
        | GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::IQ4_NL
        | GgmlType::IQ4_XS => {
            let sh = kquants::shape(ty).expect("a k-quant type");
            (cols / 32 * sh.bits as usize, cols / sh.sub * (1 + sh.has_min as usize))
        }
        // Integer storage types are never matmul weights (the loader converts them).
        GgmlType::I8 | GgmlType::I32 | GgmlType::I2_S => (0, 0),
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

fn words(bytes: &[u8], out: &mut Vec<u32>) {
    out.extend(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
}

/// Bit offset of element `e` (< 16) of a trit-plane word on the GPU: elements 4s … 4s+3 sit in
/// bits 2s … 2s+1 of bytes 0 … 3, so `(w >> 2s) & 0x03030303` packs them as int8 (see
/// shaders/matmul_tp.wgsl).
pub fn tp_bit(e: usize) -> u32 {
    (8 * (e % 4) + 2 * (e / 4)) as u32
}

/// Repack one row of ggml blocks into (words, scales).
pub fn repack_row(ty: GgmlType, cols: usize, row: &[u8], w: &mut Vec<u32>, s: &mut Vec<f32>) {
    let (row_words, _) = row_layout(ty, cols);
    let start = w.len();
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => {
            let mut padded = row.to_vec();
            padded.resize(row_words * 4, 0);
            words(&padded, w);
        }
        GgmlType::Q8_0 => {
            for b in row.chunks_exact(34) {
                s.push(f16_at(b, 0));
                words(&b[2..34], w);
            }
        }
        GgmlType::Q4_0 => {
            for b in row.chunks_exact(18) {
                s.push(f16_at(b, 0));
                words(&b[2..18], w);
            }
        }
        GgmlType::Q4_1 => {
            for b in row.chunks_exact(20) {
                s.push(f16_at(b, 0));
                s.push(f16_at(b, 2));
                words(&b[4..20], w);
            }
        }
        GgmlType::TQ2_0 => {
            // Into the trit-plane layout (one plane, GROUP = 256: 16 words of 16 codes, then d),
            // so matmul_tp.wgsl serves it and a 32-element sub-block is 2 words.
            // ggml's byte 32h+m holds element 128h+32l+m in bits 2l; the digit is the code t+1.
            for b in row.chunks_exact(66) {
                let mut codes = [0u32; 16];
                for (e, c) in (0..256).map(|e| (e, (b[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3)) {
                    codes[e / 16] |= (c as u32) << tp_bit(e % 16);
                }
                w.extend_from_slice(&codes);
                s.push(f16_at(b, 64));
            }
        }
        GgmlType::TQ1_0 => {
            for b in row.chunks_exact(54) {
                s.push(f16_at(b, 52));
                words(&b[0..52], w);
            }
        }
        GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128 => {
            // Sequential nibbles (element 2i in the low nibble of byte i) → ggml's Q4 layout per
            // 32 elements (byte i: element i low, element 16 + i high).
            let g = ty.block_size();
            for b in row.chunks_exact(ty.block_bytes()) {
                let code = |e: usize| (b[e / 2] >> (4 * (e % 2))) & 0xf;
                for c in (0..g).step_by(32) {
                    let q4: Vec<u8> = (0..16).map(|i| code(c + i) | (code(c + 16 + i) << 4)).collect();
                    words(&q4, w);
                }
                s.push(f16_at(b, g / 2));
                s.push(f16_at(b, g / 2 + 2));
            }
        }
        GgmlType::TP1_G32
        | GgmlType::TP1_G64
        | GgmlType::TP1_G128
        | GgmlType::TP2_G32
        | GgmlType::TP2_G64
        | GgmlType::TP2_G128 => {
            // Each word of 16 sequential codes → the shader layout ([`tp_bit`]).
            let (g, planes) = (ty.block_size(), ty.planes());
            for b in row.chunks_exact(ty.block_bytes()) {
                let mut seq = Vec::with_capacity(planes * g / 16);
                words(&b[..planes * g / 4], &mut seq);
                w.extend(seq.iter().map(|&x| (0..16).fold(0u32, |acc, e| acc | ((x >> (2 * e)) & 3) << tp_bit(e))));
                for k in 0..planes {
                    s.push(f16_at(b, planes * g / 4 + 2 * k));
                }
            }
        }
        GgmlType::Q5_0
        | GgmlType::Q5_1
        | GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::IQ4_NL
        | GgmlType::IQ4_XS => {
            // Unpacked (quant/kquants.rs) into codes and f32 group factors; codes as bit planes.
            let sh = kquants::shape(ty).expect("a k-quant type");
            let bs = ty.block_size();
            let mut codes = [0u8; 256];
            let (mut d, mut m) = ([0f32; 16], [0f32; 16]);
            for b in row.chunks_exact(ty.block_bytes()) {
                kquants::unpack_block(ty, b, &mut codes, &mut d, &mut m);
                for sub in codes[..bs].chunks_exact(32) {
                    for k in 0..sh.bits {
                        w.push(sub.iter().enumerate().fold(0u32, |a, (e, &q)| a | (((q as u32 >> k) & 1) << e)));
                    }
                }
                for g in 0..bs / sh.sub {
                    s.push(d[g]);
                    if sh.has_min {
                        s.push(m[g]);
                    }
                }
            }
        }
        GgmlType::I8 | GgmlType::I32 | GgmlType::I2_S => {}
    }
    debug_assert_eq!(w.len() - start, row_words);
}

/// Upload `m`, split into shards of at most `max_binding` bytes per buffer.
pub fn upload(device: &wgpu::Device, name: &str, m: &QMatrix, max_binding: u64) -> Result<GpuWeight> {
    let (row_words, row_scales) = row_layout(m.ty, m.cols);
    let row_bytes = (row_words.max(row_scales) * 4) as u64;
    // Each shard's words are padded to a whole 16-byte word (below): keep room for that.
    if row_bytes + 16 > max_binding {
        return Err(Error::Limit {
            what: format!("one row of tensor '{name}' in bytes (maxStorageBufferBindingSize)"),
            value: row_bytes,
            limit: max_binding,
        });
    }
    let rows_per_shard = (((max_binding - 16) / row_bytes) as usize).min(m.rows).max(1);
    let mut shards = Vec::new();
    let mut r0 = 0;
    while r0 < m.rows {
        let rows = rows_per_shard.min(m.rows - r0);
        let mut w = Vec::with_capacity(rows * row_words);
        let mut s = Vec::with_capacity(rows * row_scales.max(1));
        for r in r0..r0 + rows {
            repack_row(m.ty, m.cols, m.row(r), &mut w, &mut s);
        }
        if s.is_empty() {
            s.push(0.0); // bindings may not be empty
        }
        // A whole number of 16-byte words: the int8 units read the weights as vec4<u32>.
        w.resize(w.len().div_ceil(4).max(1) * 4, 0);
        let weights = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(name),
            contents: bytemuck::cast_slice(&w),
            usage: wgpu::BufferUsages::STORAGE,
        });
        let scales = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(name),
            contents: bytemuck::cast_slice(&s),
            usage: wgpu::BufferUsages::STORAGE,
        });
        shards.push(Shard { row_offset: r0, rows, weights, scales });
        r0 += rows;
    }
    Ok(GpuWeight { ty: m.ty, rows: m.rows, cols: m.cols, row_words, shards })
}
