//! The shader registry and the pipeline cache.
//!
//! Every kernel is a file in shaders/ (one per variant, `include_str!`-ed here; no WGSL inside
//! Rust logic). The weight-format kernels are composed: `matmul_<format>.wgsl` defines
//! `load_sub` and is prepended to the format-independent body (`matmul.wgsl` or `embed.wgsl`).
//! A pipeline is keyed by its kernel name (the label is the same snake_case name).
//!
//! tritium's internal formats share one source per family: `matmul_awq4.wgsl` serves AWQ4_G32/
//! G64/G128 and `matmul_tp.wgsl` serves TP1_G*/TP2_G* (and TQ2_0, repacked at upload into one
//! plane with group 256); the registry specializes them by injecting `const GROUP: u32 = …;` (and
//! `const PLANES: u32 = …;` for the trit planes) between the body and the format file.
//! `Kernel::all()` lists every specialization, so the validation test covers each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
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
    Rmsnorm => "rmsnorm",
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

/// The Mixture-of-Depths prefill kernels (crate/src/pmod/gpu.rs); each is its file with
/// shaders/mod_common.wgsl (shared structs and bindings) appended, and binds [`MOD_BINDINGS`].
pub const MOD_KERNELS: &[Shader] = &[
    Shader::ModScore,
    Shader::ModRank,
    Shader::ModCompact,
    Shader::ModGather,
    Shader::ModScatter,
    Shader::ModScaledAdd,
    Shader::ModString,
    Shader::ModSnapStats,
    Shader::ModSnapRecv,
];

/// The bind-group layout of every mod_* kernel (see shaders/mod_common.wgsl): step, params,
/// xfull, x, sel, aux, positions, proj, k_cache.
pub const MOD_BINDINGS: &[Binding] = &[
    Binding::Uniform,
    Binding::Uniform,
    Binding::ReadWrite,
    Binding::ReadWrite,
    Binding::ReadWrite,
    Binding::ReadWrite,
    Binding::ReadWrite,
    Binding::Read,
    Binding::Read,
];

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
        GgmlType::I8 | GgmlType::I32 => None,
    }
}

/// The thread mapping of a matmul pipeline (constants injected into the body): `rows` rows per
/// workgroup, `lanes` threads per row (a power of two), `tokens` tokens per workgroup (1 =
/// matrix-vector; more = a token tile that reads each weight once for all its tokens), and the
/// body: `word` = shaders/matmul_w.wgsl (neighbouring lanes take neighbouring u32 words of a row:
/// coalesced, for hardware GPUs), else shaders/matmul.wgsl (each lane takes whole 32-element
/// sub-blocks: fewest loads per invocation, for software adapters). `i8`: int8 activations
/// (shaders/quantize_i8.wgsl quantizes the input per 32-element block; the unit of
/// shaders/matmul_i8_*.wgsl is one such block, multiplied with `dot4I8Packed`); it runs on the
/// word body whatever `word` says. `fused` (with `i8`, one token): each workgroup quantizes the
/// input itself into workgroup memory (shaders/matmul_x_i8s.wgsl) instead of reading the blocks
/// of a separate quantize pass: one dispatch instead of two. `xblocks` is the input's 32-element
/// blocks that the fused kernel is built for (set by [`effective_tile`]; 0 otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    pub rows: u32,
    pub lanes: u32,
    pub tokens: u32,
    pub word: bool,
    pub i8: bool,
    pub fused: bool,
    pub xblocks: u32,
}

/// Workgroup memory the fused int8 tile may use: the 16 KiB every WebGPU device grants
/// (`maxComputeWorkgroupStorageSize`'s default), so it never depends on a negotiated limit.
pub const FUSED_WORKGROUP_BYTES: u32 = 16384;

/// The widest input (in 32-element blocks) the fused int8 tile takes: every workgroup re-reads
/// and quantizes the whole input before it reads a weight, and on the H100 (README, device runs
/// of 2026-11-27) that staging beat the separate quantize dispatch up to 4,096 columns (128
/// blocks: 576×1536, 4096×4096, 11008×4096) and lost at 11,008 (344 blocks).
pub const FUSED_MAX_BLOCKS: usize = 128;

impl Tile {
    pub const fn new(rows: u32, lanes: u32, tokens: u32) -> Tile {
        Tile { rows, lanes, tokens, word: false, i8: false, fused: false, xblocks: 0 }
    }

    pub const fn words(rows: u32, lanes: u32, tokens: u32) -> Tile {
        Tile { rows, lanes, tokens, word: true, i8: false, fused: false, xblocks: 0 }
    }

    /// Int8 activations (`dot4I8Packed`), one 32-element block per unit.
    pub const fn int8(rows: u32, lanes: u32, tokens: u32) -> Tile {
        Tile { rows, lanes, tokens, word: true, i8: true, fused: false, xblocks: 0 }
    }

    /// Int8 activations quantized inside the workgroup (one token; see [`Tile::fused`]).
    pub const fn int8_fused(rows: u32, lanes: u32) -> Tile {
        Tile { rows, lanes, tokens: 1, word: true, i8: true, fused: true, xblocks: 0 }
    }

    /// Whether the fused int8 kernel takes a `cols`-wide input: at most [`FUSED_MAX_BLOCKS`]
    /// blocks, and within [`FUSED_WORKGROUP_BYTES`]: 40 bytes per 32-element block (8 code
    /// words, d, Σq) plus the reduction's 4 bytes per thread.
    pub fn fused_fits(&self, cols: usize) -> bool {
        cols / 32 <= FUSED_MAX_BLOCKS
            && (cols / 32) as u64 * 40 + self.threads() as u64 * 4 <= FUSED_WORKGROUP_BYTES as u64
    }

    /// Threads per workgroup.
    pub fn threads(&self) -> u32 {
        self.rows * self.lanes
    }

    /// `ROWSxLANES` or `ROWSxLANESxTOKENS`, with a trailing `w` for the word-interleaved body,
    /// `i` for int8 activations or `f` for int8 activations quantized in the workgroup (one
    /// token; its token tile, if any, is the `i` tile).
    pub fn parse(s: &str) -> Option<Tile> {
        let s = s.trim();
        let (s, word, i8, fused) = match (s.strip_suffix('w'), s.strip_suffix('i'), s.strip_suffix('f')) {
            (Some(rest), _, _) => (rest, true, false, false),
            (_, Some(rest), _) => (rest, true, true, false),
            (_, _, Some(rest)) => (rest, true, true, true),
            _ => (s, false, false, false),
        };
        let v: Vec<u32> = s.split('x').map(|x| x.trim().parse().ok()).collect::<Option<_>>()?;
        let mut t = match v[..] {
            [r, l] => Tile::new(r, l, 1),
            [r, l, t] => Tile::new(r, l, t),
            _ => return None,
        };
        t.word = word;
        t.i8 = i8;
        t.fused = fused;
        let ok = !(fused && t.tokens > 1)
            && t.rows >= 1
            && t.lanes.is_power_of_two()
            && (1..=16).contains(&t.tokens)
            && t.threads() <= 256;
        ok.then_some(t)
    }

    pub fn name(&self) -> String {
        let suffix = match (self.fused, self.i8, self.word) {
            (true, _, _) if self.xblocks > 0 => format!("f{}", self.xblocks),
            (true, _, _) => "f".into(),
            (_, true, _) => "i".into(),
            (_, false, true) => "w".into(),
            _ => String::new(),
        };
        format!("{}x{}x{}{}", self.rows, self.lanes, self.tokens, suffix)
    }
}

/// The matmul tiles a context uses: `decode` for one token, `prefill` for several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Tiles {
    pub decode: Tile,
    pub prefill: Tile,
}

impl Tiles {
    /// Software adapters (lavapipe, SwiftShader) run a workgroup per CPU thread, so what counts
    /// is loads per invocation: few lanes per row. Hardware GPUs need many threads in flight and
    /// wide coalesced rows: 64 lanes per row (measured on the device runs; see README).
    pub fn for_device_type(cpu_like: bool) -> Tiles {
        if cpu_like {
            Tiles::new(Tile::new(8, 8, 1), 8)
        } else {
            Tiles::new(Tile::words(4, 64, 1), 8)
        }
    }

    /// Both tiles as they run for a `cols`-wide matrix of format `ty` ([`effective_tile`]).
    pub fn effective(self, ty: GgmlType, cols: usize) -> Tiles {
        Tiles { decode: effective_tile(self.decode, ty, cols), prefill: effective_tile(self.prefill, ty, cols) }
    }

    /// The same tiles with f32 activations.
    pub fn without_i8(self) -> Tiles {
        let f32 = |t: Tile| Tile { i8: false, fused: false, xblocks: 0, ..t };
        Tiles { decode: f32(self.decode), prefill: f32(self.prefill) }
    }

    /// `decode` for one token and the same mapping with a `prefill_tokens` token tile (both
    /// share the rows per workgroup, so one params uniform serves both; a fused decode tile's
    /// token tile reads the blocks of the separate quantize pass).
    pub fn new(decode: Tile, prefill_tokens: u32) -> Tiles {
        let decode = Tile { tokens: 1, ..decode };
        Tiles { decode, prefill: Tile { tokens: prefill_tokens.max(1), fused: false, xblocks: 0, ..decode } }
    }
}

impl serde::Serialize for Tile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// The tiles for weights of format `ty`: the adapter class's default (software: 8 rows × 8
/// lanes on the sub-block body; hardware: 4 rows × 64 lanes on the word body), except two-plane
/// trit planes on hardware GPUs, where the tile sweep of `tritium bench --tiles` (H100, Vulkan;
/// README) found 8 rows × 32 lanes fastest.
pub fn tiles_for(ty: GgmlType, software: bool) -> Tiles {
    if !software && ty.planes() == 2 {
        return Tiles::new(Tile::words(8, 32, 1), 8);
    }
    Tiles::for_device_type(software)
}

/// The int8-activation tiles for weights of format `ty`, if it has an int8 unit
/// ([`i8_source`]): 8 rows × 8 lanes on software adapters (measured on lavapipe: README), 8 rows
/// × 32 lanes on hardware GPUs (one 32-element block per lane and unit; the H100 sweep's best or
/// within 10% of it for every int8 format at 4096×11008), where decode quantizes inputs of up to
/// [`FUSED_MAX_BLOCKS`] blocks in the workgroup (fused; one dispatch instead of two) and wider
/// ones in the separate pass.
pub fn tiles_i8_for(ty: GgmlType, software: bool) -> Option<Tiles> {
    i8_source(ty)?;
    Some(if software { Tiles::new(Tile::int8(8, 8, 1), 8) } else { Tiles::new(Tile::int8_fused(8, 32), 8) })
}

/// Every tile [`tiles_for`] and [`tiles_i8_for`] can choose for `ty` (validated by the naga
/// test).
pub fn standard_tiles(ty: GgmlType) -> Vec<Tile> {
    let mut v = Vec::new();
    for software in [true, false] {
        for t in [Some(tiles_for(ty, software)), tiles_i8_for(ty, software)].into_iter().flatten() {
            // A fused tile falls back to the two-pass one for inputs too wide for it.
            let unfused = Tile { fused: false, xblocks: 0, ..t.decode };
            for x in [t.decode, unfused, t.prefill] {
                if !v.contains(&x) {
                    v.push(x);
                }
            }
        }
    }
    v
}

/// The tile that actually runs for a `cols`-wide matrix of format `ty`: int8 tiles need an
/// int8 unit for the format (quantized weights only) and whole 32-element blocks, else the same
/// mapping runs with f32 activations; word tiles need the unit interface and 16-byte-aligned
/// token rows (cols a multiple of 4), else the same mapping runs on the sub-block body.
pub fn effective_tile(tile: Tile, ty: GgmlType, cols: usize) -> Tile {
    let tile = if tile.i8 && (i8_source(ty).is_none() || cols % 32 != 0) {
        Tile { i8: false, fused: false, xblocks: 0, ..tile }
    } else if tile.fused {
        if tile.tokens == 1 && tile.fused_fits(cols) {
            Tile { xblocks: (cols / 32) as u32, ..tile }
        } else {
            Tile { fused: false, xblocks: 0, ..tile }
        }
    } else {
        tile
    };
    if !tile.i8 && tile.word && (!has_units(ty) || cols % 4 != 0) {
        Tile { word: false, ..tile }
    } else {
        tile
    }
}

/// The int8-activation unit file of `ty` and its constants, if the format has one: ggml Q8_0,
/// Q4_0, Q4_1 and TQ2_0, and tritium's AWQ4 and trit planes (F32/F16/BF16 keep f32 activations;
/// TQ1_0's base-3 bytes have no word unit).
pub fn i8_source(ty: GgmlType) -> Option<(Shader, String)> {
    if !crate::backend::cpu::has_i8_unit(ty) {
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
/// but TQ1_0, whose base-3 bytes do not split into words; it keeps the sub-block body).
pub fn has_units(ty: GgmlType) -> bool {
    ty != GgmlType::TQ1_0
}

/// A kernel: a standalone file, or a format-specialized matmul / embed (composed from several
/// files; its label starts with the file that defines the format's loads).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    Plain(Shader),
    Matmul(GgmlType, Tile),
    Embed(GgmlType),
}

impl Kernel {
    /// The pipeline label: the shader's file stem for a plain kernel; for a weight kernel the
    /// file that defines the format's loads (the int8 unit file for int8 tiles), then the format
    /// when that file serves several (`matmul_tp.tq2_0`), then the tile.
    pub fn name(&self) -> String {
        let file = |t: GgmlType, i8: bool| {
            let f = if i8 { i8_source(t).map(|x| x.0) } else { format_source(t).map(|x| x.0) };
            match f {
                Some(f) if f.name() == format!("matmul_{}", format_suffix(t)) => f.name().to_string(),
                Some(f) => format!("{}.{}", f.name(), format_suffix(t)),
                None => format!("matmul_{}", format_suffix(t)),
            }
        };
        match self {
            Kernel::Plain(s) => s.name().to_string(),
            Kernel::Matmul(t, tile) => format!("{}_{}", file(*t, tile.i8), tile.name()),
            Kernel::Embed(t) => format!("embed.{}", file(*t, false)),
        }
    }

    /// The full WGSL source; an error for a weight format no shader serves.
    pub fn source(&self) -> Result<String> {
        let unsupported = |t: &GgmlType| {
            Error::UnsupportedModel(format!("no WebGPU kernel for weights of type {} ({})", t.name(), self.name()))
        };
        let tile_consts = |tile: &Tile| {
            format!(
                "const ROWS: u32 = {}u;\nconst LANES: u32 = {}u;\nconst TB: u32 = {}u;\n",
                tile.rows, tile.lanes, tile.tokens
            )
        };
        Ok(match self {
            Kernel::Plain(s) if MOD_KERNELS.contains(s) => format!("{}\n{}", s.source(), Shader::ModCommon.source()),
            Kernel::Plain(Shader::QuantizeI8) => {
                format!("{}\n{}", Shader::QuantizeI8.source(), Shader::Mxint8.source())
            }
            Kernel::Plain(s) => s.source().to_string(),
            Kernel::Matmul(t, tile) if tile.i8 => {
                let (file, mut consts) = i8_source(*t).ok_or_else(|| unsupported(t))?;
                consts += &tile_consts(tile);
                let fused = tile.fused && tile.xblocks > 0;
                if fused {
                    consts += &format!("const XBLOCKS: u32 = {}u;\n", tile.xblocks);
                }
                let x = if fused { Shader::MatmulXI8s } else { Shader::MatmulXI8 };
                let mut parts =
                    vec![Shader::MatmulW.source(), x.source(), &consts, file.source(), Shader::MatmulReduce.source()];
                if fused {
                    parts.push(Shader::Mxint8.source());
                }
                parts.join("\n")
            }
            Kernel::Matmul(t, _) | Kernel::Embed(t) => {
                let body = match self {
                    Kernel::Matmul(t, tile) if tile.word && has_units(*t) => Shader::MatmulW,
                    Kernel::Matmul(..) => Shader::Matmul,
                    _ => Shader::Embed,
                };
                let (file, mut consts) = format_source(*t).ok_or_else(|| unsupported(t))?;
                if let Kernel::Matmul(_, tile) = self {
                    consts += &tile_consts(tile);
                }
                let fmt = file.source();
                // The body declares the bindings the format file uses; put it first (its header
                // comment opens the module), then the specialization constants, the format file,
                // and the shared pieces: the matmul epilogue and Q4_0/Q4_1's common unit.
                let mut src = if body == Shader::MatmulW {
                    format!("{}\n{}\n{}{}", body.source(), Shader::MatmulXF32.source(), consts, fmt)
                } else {
                    format!("{}\n{}{}", body.source(), consts, fmt)
                };
                if matches!(self, Kernel::Matmul(..)) {
                    src += &format!("\n{}", Shader::MatmulReduce.source());
                }
                if matches!(
                    t,
                    GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128
                ) {
                    src += &format!("\n{}", Shader::MatmulQ4Unit.source());
                }
                src
            }
        })
    }

    /// The binding list of group 0 (explicit, so bindings a variant does not read — the scales
    /// of f32 weights, the step of argmax — keep their slots and one bind-group shape serves all).
    pub fn bindings(&self) -> &'static [Binding] {
        use Binding::*;
        match self {
            Kernel::Matmul(..) | Kernel::Embed(_) => &[Uniform, Uniform, Read, Read, Read, ReadWrite],
            Kernel::Plain(Shader::Rmsnorm | Shader::Rope) => &[Uniform, Uniform, Read, Read, ReadWrite],
            Kernel::Plain(s) if MOD_KERNELS.contains(s) => MOD_BINDINGS,
            Kernel::Plain(Shader::Attention) => &[Uniform, Uniform, Read, Read, Read, ReadWrite],
            Kernel::Plain(_) => &[Uniform, Uniform, Read, ReadWrite],
        }
    }

    /// Every kernel the backend can build (for validation tests): each standalone kernel, and
    /// each weight format's matmul (every standard tile) and embedding.
    pub fn all() -> Vec<Kernel> {
        use Shader::*;
        let mut v: Vec<Kernel> = [Rmsnorm, Rope, Attention, Swiglu, Add, Argmax, BenchRead, Sample, QuantizeI8]
            .iter()
            .chain(MOD_KERNELS)
            .map(|s| Kernel::Plain(*s))
            .collect();
        for t in crate::quant::MATMUL_TYPES {
            for tile in standard_tiles(t) {
                let k = Kernel::Matmul(t, effective_tile(tile, t, 256));
                if !v.contains(&k) {
                    v.push(k);
                }
            }
            v.push(Kernel::Embed(t));
        }
        v
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binding {
    Uniform,
    Read,
    ReadWrite,
}

#[derive(Default)]
pub struct KernelCache {
    pipelines: Mutex<HashMap<Kernel, Arc<wgpu::ComputePipeline>>>,
    /// One bind-group layout per binding list, shared by every pipeline with that list, so one
    /// bind group serves a matmul's decode and prefill tiles.
    layouts: Mutex<HashMap<&'static [Binding], Arc<wgpu::BindGroupLayout>>>,
}

impl KernelCache {
    pub fn layout(&self, device: &wgpu::Device, bindings: &'static [Binding]) -> Arc<wgpu::BindGroupLayout> {
        let mut map = self.layouts.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(bindings)
            .or_insert_with(|| {
                let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
                    .iter()
                    .enumerate()
                    .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                        binding: i as u32,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: match b {
                                Binding::Uniform => wgpu::BufferBindingType::Uniform,
                                Binding::Read => wgpu::BufferBindingType::Storage { read_only: true },
                                Binding::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                            },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    })
                    .collect();
                Arc::new(device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some("tritium"),
                    entries: &entries,
                }))
            })
            .clone()
    }

    /// The pipeline of `k`, built on first use.
    pub fn get(&self, device: &wgpu::Device, k: &Kernel) -> Result<Arc<wgpu::ComputePipeline>> {
        if let Some(p) = self.pipelines.lock().unwrap_or_else(|e| e.into_inner()).get(k) {
            return Ok(p.clone());
        }
        let name = k.name();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&name),
            source: wgpu::ShaderSource::Wgsl(k.source()?.into()),
        });
        let bgl = self.layout(device, k.bindings());
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(&name),
            bind_group_layouts: &[Some(&bgl)],
            immediate_size: 0,
        });
        let p = Arc::new(device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&name),
            layout: Some(&layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        }));
        self.pipelines.lock().unwrap_or_else(|e| e.into_inner()).insert(k.clone(), p.clone());
        Ok(p)
    }

    pub fn len(&self) -> usize {
        self.pipelines.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
