//! The tensor element types: ggml's block formats and tritium's own row-block formats (AWQ4_G*,
//! TP*_G*), with their block geometry and names.

pub const QK8_0: usize = 32;
pub const QK4_0: usize = 32;
pub const QK4_1: usize = 32;
pub const QK_K: usize = 256;

/// Tensor element types tritium supports (ggml type ids).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
    BF16,
    TQ1_0,
    TQ2_0,
    /// ggml's 5-bit blocks of 32 (Q5_0: w = d·(q − 16); Q5_1: w = d·q + m).
    Q5_0,
    Q5_1,
    /// ggml's k-quants: 256-element superblocks with 6- or 8-bit sub-block scales
    /// (`ggml-common.h` `block_q2_K` … `block_q6_K`).
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    /// ggml's non-linear 4-bit codes (a 16-entry table), blocks of 32 (IQ4_NL) or 256-element
    /// superblocks with 6-bit sub-block scales (IQ4_XS).
    IQ4_NL,
    IQ4_XS,
    /// ggml's plain integer tensors: storage only (the AWQ GGUF naming keeps qweight/qzeros in I32,
    /// the trit-plane naming keeps packed codes in I8); never a matmul weight.
    I8,
    I32,
    /// bitnet.cpp's ternary storage (type 36): 2-bit codes c = t + 1 in blocks of 128 weights
    /// (32 bytes; weight 32·g + p of a block in byte p at bits 6 − 2g), one f32 scale for the
    /// whole tensor after the codes, padded to 32 bytes. Repacked into TQ2_0 at load
    /// (`quant::i2s`); never a matmul weight itself.
    I2_S,
    /// tritium's int4 with zero point per group of g input channels (AWQ / RTN4), row-major blocks
    /// of g weights: g/2 bytes of codes (byte j = q[2j] | q[2j+1] << 4), f16 scale S, f16 zero Z
    /// (an integer 0..15 stored as f16). w = (q − Z) · S. Not a ggml type: in GGUF files it is
    /// stored under the AutoAWQ naming (see format/awq.rs).
    AWQ4_G32,
    AWQ4_G64,
    AWQ4_G128,
    /// tritium's trit planes with one scale per plane per group of g input channels
    /// (PTQTP: W ≈ α1·T1 + α2·T2). Row-major blocks of g weights: for each plane, g/4 bytes of
    /// 2-bit codes c = t + 1 (byte j holds weights 4j … 4j+3 at bits 2i), then one f16 α per
    /// plane. w = Σ_k α_k · t_k (plane 0 first). TP1_* is a single plane (absmean ternary with
    /// per-group or per-tensor scales, for rows that TQ1_0/TQ2_0 cannot hold).
    TP1_G32,
    TP1_G64,
    TP1_G128,
    TP2_G32,
    TP2_G64,
    TP2_G128,
}

/// tritium's own row-block formats (no ggml type id), in the order the kernels list them.
pub const INTERNAL_TYPES: [GgmlType; 9] = [
    GgmlType::AWQ4_G32,
    GgmlType::AWQ4_G64,
    GgmlType::AWQ4_G128,
    GgmlType::TP1_G32,
    GgmlType::TP1_G64,
    GgmlType::TP1_G128,
    GgmlType::TP2_G32,
    GgmlType::TP2_G64,
    GgmlType::TP2_G128,
];

/// Every format a weight matrix can have (the ggml types of `ALL_TYPES` and the internal ones).
pub const MATMUL_TYPES: [GgmlType; 26] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::AWQ4_G32,
    GgmlType::AWQ4_G64,
    GgmlType::AWQ4_G128,
    GgmlType::TP1_G32,
    GgmlType::TP1_G64,
    GgmlType::TP1_G128,
    GgmlType::TP2_G32,
    GgmlType::TP2_G64,
    GgmlType::TP2_G128,
];

/// The ggml types a GGUF tensor can have here (matmul weights and norms).
pub const ALL_TYPES: [GgmlType; 17] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::TQ1_0,
    GgmlType::TQ2_0,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
];

/// The types of [`ALL_TYPES`] added with the k-quants (5-bit, k-quant and IQ4 blocks): their
/// dequantizers live in [`super::kquants`], and the GPU serves them from one bit-plane file.
pub const KQUANT_TYPES: [GgmlType; 9] = [
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
];

/// Names of all ggml type ids, for error messages about types we do not support.
pub fn ggml_type_name(id: u32) -> &'static str {
    match id {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        34 => "TQ1_0",
        35 => "TQ2_0",
        36 => "I2_S",
        39 => "MXFP4",
        _ => "unknown",
    }
}

impl GgmlType {
    pub fn from_id(id: u32) -> Option<GgmlType> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            10 => GgmlType::Q2_K,
            11 => GgmlType::Q3_K,
            12 => GgmlType::Q4_K,
            13 => GgmlType::Q5_K,
            14 => GgmlType::Q6_K,
            20 => GgmlType::IQ4_NL,
            23 => GgmlType::IQ4_XS,
            30 => GgmlType::BF16,
            34 => GgmlType::TQ1_0,
            35 => GgmlType::TQ2_0,
            24 => GgmlType::I8,
            26 => GgmlType::I32,
            36 => GgmlType::I2_S,
            _ => return None,
        })
    }

    /// The ggml type id, or `None` for tritium's internal row-block formats.
    pub fn ggml_id(self) -> Option<u32> {
        if self.is_internal() {
            None
        } else {
            Some(self.id())
        }
    }

    pub fn is_internal(self) -> bool {
        INTERNAL_TYPES.contains(&self)
    }

    /// Group size of the internal formats (input channels per scale).
    pub fn group(self) -> Option<usize> {
        match self {
            GgmlType::AWQ4_G32 | GgmlType::TP1_G32 | GgmlType::TP2_G32 => Some(32),
            GgmlType::AWQ4_G64 | GgmlType::TP1_G64 | GgmlType::TP2_G64 => Some(64),
            GgmlType::AWQ4_G128 | GgmlType::TP1_G128 | GgmlType::TP2_G128 => Some(128),
            _ => None,
        }
    }

    /// Trit planes of the TP formats (0 for every other format).
    pub fn planes(self) -> usize {
        match self {
            GgmlType::TP1_G32 | GgmlType::TP1_G64 | GgmlType::TP1_G128 => 1,
            GgmlType::TP2_G32 | GgmlType::TP2_G64 | GgmlType::TP2_G128 => 2,
            _ => 0,
        }
    }

    pub fn awq4(group: usize) -> Option<GgmlType> {
        Some(match group {
            32 => GgmlType::AWQ4_G32,
            64 => GgmlType::AWQ4_G64,
            128 => GgmlType::AWQ4_G128,
            _ => return None,
        })
    }

    pub fn trit_planes(planes: usize, group: usize) -> Option<GgmlType> {
        Some(match (planes, group) {
            (1, 32) => GgmlType::TP1_G32,
            (1, 64) => GgmlType::TP1_G64,
            (1, 128) => GgmlType::TP1_G128,
            (2, 32) => GgmlType::TP2_G32,
            (2, 64) => GgmlType::TP2_G64,
            (2, 128) => GgmlType::TP2_G128,
            _ => return None,
        })
    }

    /// The ggml type id (internal formats get ids above ggml's range, used only in memory).
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q8_0 => 8,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q2_K => 10,
            GgmlType::Q3_K => 11,
            GgmlType::Q4_K => 12,
            GgmlType::Q5_K => 13,
            GgmlType::Q6_K => 14,
            GgmlType::IQ4_NL => 20,
            GgmlType::IQ4_XS => 23,
            GgmlType::BF16 => 30,
            GgmlType::TQ1_0 => 34,
            GgmlType::TQ2_0 => 35,
            GgmlType::I8 => 24,
            GgmlType::I32 => 26,
            GgmlType::I2_S => 36,
            GgmlType::AWQ4_G32 => 1000,
            GgmlType::AWQ4_G64 => 1001,
            GgmlType::AWQ4_G128 => 1002,
            GgmlType::TP1_G32 => 1010,
            GgmlType::TP1_G64 => 1011,
            GgmlType::TP1_G128 => 1012,
            GgmlType::TP2_G32 => 1020,
            GgmlType::TP2_G64 => 1021,
            GgmlType::TP2_G128 => 1022,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GgmlType::AWQ4_G32 => "AWQ4_G32",
            GgmlType::AWQ4_G64 => "AWQ4_G64",
            GgmlType::AWQ4_G128 => "AWQ4_G128",
            GgmlType::TP1_G32 => "TP1_G32",
            GgmlType::TP1_G64 => "TP1_G64",
            GgmlType::TP1_G128 => "TP1_G128",
            GgmlType::TP2_G32 => "TP2_G32",
            GgmlType::TP2_G64 => "TP2_G64",
            GgmlType::TP2_G128 => "TP2_G128",
            _ => ggml_type_name(self.id()),
        }
    }

    pub fn from_name(name: &str) -> Option<GgmlType> {
        MATMUL_TYPES.iter().copied().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Elements per block.
    pub fn block_size(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 | GgmlType::I8 | GgmlType::I32 => 1,
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0 => 32,
            GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::IQ4_NL => 32,
            GgmlType::TQ1_0 | GgmlType::TQ2_0 => QK_K,
            GgmlType::I2_S => 128,
            GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K | GgmlType::IQ4_XS => {
                QK_K
            }
            t => t.group().unwrap_or(1),
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => 2 + 16,
            GgmlType::Q4_1 => 2 + 2 + 16,
            GgmlType::Q8_0 => 2 + 32,
            GgmlType::TQ1_0 => 48 + 4 + 2,
            GgmlType::TQ2_0 => 64 + 2,
            GgmlType::Q5_0 => 2 + 4 + 16,
            GgmlType::Q5_1 => 2 + 2 + 4 + 16,
            GgmlType::Q2_K => 16 + 64 + 2 + 2,
            GgmlType::Q3_K => 32 + 64 + 12 + 2,
            GgmlType::Q4_K => 2 + 2 + 12 + 128,
            GgmlType::Q5_K => 2 + 2 + 12 + 32 + 128,
            GgmlType::Q6_K => 128 + 64 + 16 + 2,
            GgmlType::IQ4_NL => 2 + 16,
            GgmlType::IQ4_XS => 2 + 2 + 4 + 128,
            GgmlType::I8 => 1,
            GgmlType::I32 => 4,
            GgmlType::I2_S => 32,
            GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128 => self.block_size() / 2 + 4,
            t => t.planes() * (t.block_size() / 4 + 2),
        }
    }

    pub fn bits_per_weight(self) -> f64 {
        self.block_bytes() as f64 * 8.0 / self.block_size() as f64
    }

    /// Bytes needed for `n` elements (`n` must be a multiple of the block size).
    pub fn bytes_for(self, n: usize) -> usize {
        n / self.block_size() * self.block_bytes()
    }

    /// Bytes of a whole tensor of `n` elements: its blocks, plus I2_S's per-tensor scale trailer
    /// (32 bytes).
    pub fn tensor_bytes(self, n: u64) -> Option<u64> {
        let blocks = (n / self.block_size() as u64).checked_mul(self.block_bytes() as u64)?;
        blocks.checked_add(if self == GgmlType::I2_S { 32 } else { 0 })
    }

    /// Formats with an int8-activation product unit (the GPU's int8 matmul kernels, fed
    /// [`super::mxint8`] activation blocks): the quantized ones except TQ1_0.
    pub fn has_i8_unit(self) -> bool {
        matches!(
            self,
            GgmlType::Q8_0
                | GgmlType::Q4_0
                | GgmlType::Q4_1
                | GgmlType::TQ2_0
                | GgmlType::AWQ4_G32
                | GgmlType::AWQ4_G64
                | GgmlType::AWQ4_G128
        ) || self.planes() > 0
    }
}
