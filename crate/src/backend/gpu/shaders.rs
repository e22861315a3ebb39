//! The shader files: the typed registry of shaders/*.wgsl ([`Shader`]) and which file serves each
//! weight format (its loads, and its int8 unit if it has one).

use crate::quant::GgmlType;

/// Declares [`Shader`]: one variant per file in shaders/, whose name is the file's stem, the
/// pipeline label's start, and the only spelling of it in Rust. The file is `include_str!`-ed
/// from that same name, so a shader that does not exist cannot compile.
macro_rules! shaders {
    ($($variant:ident => $file:literal,)*) => {
        /// A WGSL file of shaders/.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Shader {
            $($variant,)*
        }

        impl Shader {
            /// Every shader file.
            pub const ALL: &'static [Shader] = &[$(Shader::$variant,)*];

            /// The file's stem (`rope` for shaders/rope.wgsl).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Shader::$variant => $file,)*
                }
            }

            /// The file's WGSL.
            pub const fn source(self) -> &'static str {
                match self {
                    $(Shader::$variant => include_str!(concat!("../../../../shaders/", $file, ".wgsl")),)*
                }
            }
        }
    };
}

shaders! {
    Matmul => "matmul",
    MatmulW => "matmul_w",
    MatmulXF32 => "matmul_x_f32",
    MatmulXI8 => "matmul_x_i8",
    MatmulI8Q4 => "matmul_i8_q4",
    MatmulI8Q80 => "matmul_i8_q8_0",
    MatmulI8Tp => "matmul_i8_tp",
    QuantizeI8 => "quantize_i8",
    Mxint8 => "mxint8",
    MatmulXI8s => "matmul_x_i8s",
    MatmulReduce => "matmul_reduce",
    MatmulQ4Unit => "matmul_q4_unit",
    Embed => "embed",
    MatmulF32 => "matmul_f32",
    MatmulF16 => "matmul_f16",
    MatmulBf16 => "matmul_bf16",
    MatmulQ80 => "matmul_q8_0",
    MatmulQ40 => "matmul_q4_0",
    MatmulQ41 => "matmul_q4_1",
    MatmulTq10 => "matmul_tq1_0",
    MatmulAwq4 => "matmul_awq4",
    MatmulTp => "matmul_tp",
    MatmulBits => "matmul_bits",
    Rmsnorm => "rmsnorm",
    RmsnormHeads => "rmsnorm_heads",
    Bias => "bias",
    ScaleCap => "scale_cap",
    ActQuant => "act_quant",
    Rope => "rope",
    Attention => "attention",
    Swiglu => "swiglu",
    Add => "add",
    Argmax => "argmax",
    BenchRead => "bench_read",
    Sample => "sample",
    ModCommon => "mod_common",
    ModScore => "mod_score",
    ModRank => "mod_rank",
    ModCompact => "mod_compact",
    ModGather => "mod_gather",
    ModScatter => "mod_scatter",
    ModScaledAdd => "mod_scaled_add",
    ModString => "mod_string",
    ModSnapStats => "mod_snap_stats",
    ModSnapRecv => "mod_snap_recv",
}

/// The format part of a weight kernel's name (`q4_1` for Q4_1).
pub fn format_suffix(ty: GgmlType) -> String {
    ty.name().to_ascii_lowercase()
}

/// The shader file that defines `load_sub` / `dot_sub` for `ty`, and the constants it needs
/// (the group size and plane count of the internal formats). TQ2_0 is uploaded in the trit-plane layout (weights.rs) and served by `matmul_tp` as one plane
/// with group 256 (α = the block's d).
pub fn format_source(ty: GgmlType) -> Option<(Shader, String)> {
    let tp = |group: usize, planes: usize| format!("const GROUP: u32 = {group}u;\nconst PLANES: u32 = {planes}u;\n");
    let plain = |f: Shader| Some((f, String::new()));
    match ty {
        GgmlType::F32 => plain(Shader::MatmulF32),
        GgmlType::F16 => plain(Shader::MatmulF16),
        GgmlType::BF16 => plain(Shader::MatmulBf16),
        GgmlType::Q8_0 => plain(Shader::MatmulQ80),
        GgmlType::Q4_0 => plain(Shader::MatmulQ40),
        GgmlType::Q4_1 => plain(Shader::MatmulQ41),
        GgmlType::TQ1_0 => plain(Shader::MatmulTq10),
        GgmlType::TQ2_0 => Some((Shader::MatmulTp, tp(256, 1))),
        GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128 => {
            Some((Shader::MatmulAwq4, format!("const GROUP: u32 = {}u;\n", ty.block_size())))
        }
        GgmlType::TP1_G32
        | GgmlType::TP1_G64
        | GgmlType::TP1_G128
        | GgmlType::TP2_G32
        | GgmlType::TP2_G64
        | GgmlType::TP2_G128 => Some((Shader::MatmulTp, tp(ty.block_size(), ty.planes()))),
        GgmlType::Q5_0
        | GgmlType::Q5_1
        | GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::IQ4_NL
        | GgmlType::IQ4_XS => {
            let sh = crate::quant::kquants::shape(ty)?;
            Some((
                Shader::MatmulBits,
                format!(
                    "const BITS: u32 = {}u;\nconst SUB: u32 = {}u;\nconst NS: u32 = {}u;\nconst OFFSET: i32 = {};\nconst TABLE: bool = {};\n",
                    sh.bits,
                    sh.sub,
                    1 + sh.has_min as u32,
                    sh.offset,
                    sh.table
                ),
            ))
        }
        GgmlType::I8 | GgmlType::I32 | GgmlType::I2_S => None,
    }
}

/// The int8-activation unit file of `ty` and its constants, if the format has one: ggml Q8_0,
/// Q4_0, Q4_1 and TQ2_0, and tritium's AWQ4 and trit planes (F32/F16/BF16 keep f32 activations;
/// TQ1_0's base-3 bytes have no word unit).
pub fn i8_source(ty: GgmlType) -> Option<(Shader, String)> {
    if !ty.has_i8_unit() {
        return None;
    }
    let q4 = |kind: u32, group: usize| format!("const Q4_KIND: u32 = {kind}u;\nconst GROUP: u32 = {group}u;\n");
    match ty {
        GgmlType::Q8_0 => Some((Shader::MatmulI8Q80, String::new())),
        GgmlType::Q4_0 => Some((Shader::MatmulI8Q4, q4(0, 32))),
        GgmlType::Q4_1 => Some((Shader::MatmulI8Q4, q4(1, 32))),
        GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128 => {
            Some((Shader::MatmulI8Q4, q4(2, ty.block_size())))
        }
        _ if ty == GgmlType::TQ2_0 || ty.planes() > 0 => Some((Shader::MatmulI8Tp, format_source(ty)?.1)),
        _ => None,
    }
}

/// Whether the format file defines the unit interface of shaders/matmul_w.wgsl (every format
/// but TQ1_0, whose base-3 bytes do not split into words, and the bit-plane formats of
/// matmul_bits.wgsl; they keep the sub-block body).
pub fn has_units(ty: GgmlType) -> bool {
    ty != GgmlType::TQ1_0 && format_source(ty).is_some_and(|(f, _)| f != Shader::MatmulBits)
}
