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

use crate::quant::GgmlType;

/// (name, source) of every standalone shader file.
pub const SHADERS: &[(&str, &str)] = &[
    ("matmul", include_str!("../../../../shaders/matmul.wgsl")),
    ("matmul_w", include_str!("../../../../shaders/matmul_w.wgsl")),
    ("matmul_x_f32", include_str!("../../../../shaders/matmul_x_f32.wgsl")),
    ("matmul_x_i8", include_str!("../../../../shaders/matmul_x_i8.wgsl")),
    ("matmul_i8_q4", include_str!("../../../../shaders/matmul_i8_q4.wgsl")),
    ("matmul_i8_q8_0", include_str!("../../../../shaders/matmul_i8_q8_0.wgsl")),
    ("matmul_i8_tp", include_str!("../../../../shaders/matmul_i8_tp.wgsl")),
    ("quantize_i8", include_str!("../../../../shaders/quantize_i8.wgsl")),
    ("mxint8", include_str!("../../../../shaders/mxint8.wgsl")),
    ("matmul_x_i8s", include_str!("../../../../shaders/matmul_x_i8s.wgsl")),
    ("matmul_reduce", include_str!("../../../../shaders/matmul_reduce.wgsl")),
    ("matmul_q4_unit", include_str!("../../../../shaders/matmul_q4_unit.wgsl")),
    ("embed", include_str!("../../../../shaders/embed.wgsl")),
    ("matmul_f32", include_str!("../../../../shaders/matmul_f32.wgsl")),
    ("matmul_f16", include_str!("../../../../shaders/matmul_f16.wgsl")),
    ("matmul_bf16", include_str!("../../../../shaders/matmul_bf16.wgsl")),
    ("matmul_q8_0", include_str!("../../../../shaders/matmul_q8_0.wgsl")),
    ("matmul_q4_0", include_str!("../../../../shaders/matmul_q4_0.wgsl")),
    ("matmul_q4_1", include_str!("../../../../shaders/matmul_q4_1.wgsl")),
    ("matmul_tq1_0", include_str!("../../../../shaders/matmul_tq1_0.wgsl")),
    ("matmul_awq4", include_str!("../../../../shaders/matmul_awq4.wgsl")),
    ("matmul_tp", include_str!("../../../../shaders/matmul_tp.wgsl")),
    ("rmsnorm", include_str!("../../../../shaders/rmsnorm.wgsl")),
    ("rope", include_str!("../../../../shaders/rope.wgsl")),
    ("attention", include_str!("../../../../shaders/attention.wgsl")),
    ("swiglu", include_str!("../../../../shaders/swiglu.wgsl")),
    ("add", include_str!("../../../../shaders/add.wgsl")),
    ("argmax", include_str!("../../../../shaders/argmax.wgsl")),
    ("bench_read", include_str!("../../../../shaders/bench_read.wgsl")),
    ("sample", include_str!("../../../../shaders/sample.wgsl")),
    ("mod_common", include_str!("../../../../shaders/mod_common.wgsl")),
    ("mod_score", include_str!("../../../../shaders/mod_score.wgsl")),
    ("mod_rank", include_str!("../../../../shaders/mod_rank.wgsl")),
    ("mod_compact", include_str!("../../../../shaders/mod_compact.wgsl")),
    ("mod_gather", include_str!("../../../../shaders/mod_gather.wgsl")),
    ("mod_scatter", include_str!("../../../../shaders/mod_scatter.wgsl")),
    ("mod_scaled_add", include_str!("../../../../shaders/mod_scaled_add.wgsl")),
    ("mod_string", include_str!("../../../../shaders/mod_string.wgsl")),
    ("mod_snap_stats", include_str!("../../../../shaders/mod_snap_stats.wgsl")),
    ("mod_snap_recv", include_str!("../../../../shaders/mod_snap_recv.wgsl")),
];

/// The Mixture-of-Depths prefill kernels (crate/src/backend/gpu/pmod.rs); each is its file with
/// shaders/mod_common.wgsl (shared structs and bindings) appended, and binds [`MOD_BINDINGS`].
pub const MOD_KERNELS: &[&str] = &[
    "mod_score",
    "mod_rank",
    "mod_compact",
    "mod_gather",
    "mod_scatter",
    "mod_scaled_add",
    "mod_string",
    "mod_snap_stats",
    "mod_snap_recv",
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

fn source(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The format part of a weight kernel's name (`q4_1` for Q4_1).
pub fn format_suffix(ty: GgmlType) -> String {
    ty.name().to_ascii_lowercase()
}

/// The shader file that defines `load_sub` / `dot_sub` for `ty`, and the constants it needs
/// (the group size and plane count of the internal formats). TQ2_0 is uploaded in the trit-plane layout (weights.rs) and served by `matmul_tp` as one plane
/// with group 256 (α = the block's d).
pub fn format_source(ty: GgmlType) -> (&'static str, String) {
    let tp = |group: usize, planes: usize| format!("const GROUP: u32 = {group}u;\nconst PLANES: u32 = {planes}u;\n");
    match (ty, ty.group()) {
        (GgmlType::TQ2_0, _) => ("matmul_tp", tp(256, 1)),
        (_, Some(g)) if ty.planes() > 0 => ("matmul_tp", tp(g, ty.planes())),
        (_, Some(g)) => ("matmul_awq4", format!("const GROUP: u32 = {g}u;\n")),
        _ => (
            SHADERS.iter().map(|(n, _)| *n).find(|n| *n == format!("matmul_{}", format_suffix(ty))).unwrap_or(""),
            String::new(),
        ),
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
pub fn i8_source(ty: GgmlType) -> Option<(&'static str, String)> {
    if !ty.has_i8_unit() {
        return None;
    }
    let q4 = |kind: u32, group: usize| format!("const Q4_KIND: u32 = {kind}u;\nconst GROUP: u32 = {group}u;\n");
    match ty {
        GgmlType::Q8_0 => Some(("matmul_i8_q8_0", String::new())),
        GgmlType::Q4_0 => Some(("matmul_i8_q4", q4(0, 32))),
        GgmlType::Q4_1 => Some(("matmul_i8_q4", q4(1, 32))),
        GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128 => Some(("matmul_i8_q4", q4(2, ty.block_size()))),
        GgmlType::TQ2_0 => Some(("matmul_i8_tp", "const GROUP: u32 = 256u;\nconst PLANES: u32 = 1u;\n".into())),
        _ if ty.planes() > 0 => Some(("matmul_i8_tp", format_source(ty).1)),
        _ => None,
    }
}

/// Whether the format file defines the unit interface of shaders/matmul_w.wgsl (every format
/// but TQ1_0, whose base-3 bytes do not split into words; it keeps the sub-block body).
pub fn has_units(ty: GgmlType) -> bool {
    ty != GgmlType::TQ1_0
}

/// A kernel: either a standalone file or a format-specialized matmul / embed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    Plain(&'static str),
    Matmul(GgmlType, Tile),
    Embed(GgmlType),
}

impl Kernel {
    pub fn name(&self) -> String {
        match self {
            Kernel::Plain(n) => n.to_string(),
            Kernel::Matmul(t, tile) => format!("matmul_{}_{}", format_suffix(*t), tile.name()),
            Kernel::Embed(t) => format!("embed_{}", format_suffix(*t)),
        }
    }

    /// The full WGSL source.
    pub fn source(&self) -> String {
        match self {
            Kernel::Plain(n) if MOD_KERNELS.contains(n) => {
                format!("{}\n{}", source(n).unwrap_or_default(), source("mod_common").unwrap_or_default())
            }
            Kernel::Plain("quantize_i8") => {
                format!("{}\n{}", source("quantize_i8").unwrap_or_default(), source("mxint8").unwrap_or_default())
            }
            Kernel::Plain(n) => source(n).unwrap_or_default().to_string(),
            Kernel::Matmul(t, tile) if tile.i8 => {
                let (file, mut consts) = i8_source(*t).unwrap_or(("", String::new()));
                consts += &format!(
                    "const ROWS: u32 = {}u;\nconst LANES: u32 = {}u;\nconst TB: u32 = {}u;\n",
                    tile.rows, tile.lanes, tile.tokens
                );
                let fused = tile.fused && tile.xblocks > 0;
                if fused {
                    consts += &format!("const XBLOCKS: u32 = {}u;\n", tile.xblocks);
                }
                [
                    source("matmul_w"),
                    source(if fused { "matmul_x_i8s" } else { "matmul_x_i8" }),
                    Some(consts.as_str()),
                    source(file),
                    source("matmul_reduce"),
                    if fused { source("mxint8") } else { None },
                ]
                .iter()
                .map(|s| s.unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
            }
            Kernel::Matmul(t, _) | Kernel::Embed(t) => {
                let body = match self {
                    Kernel::Matmul(t, tile) if tile.word && has_units(*t) => "matmul_w",
                    Kernel::Matmul(..) => "matmul",
                    _ => "embed",
                };
                let (file, mut consts) = format_source(*t);
                if let Kernel::Matmul(_, tile) = self {
                    consts += &format!(
                        "const ROWS: u32 = {}u;\nconst LANES: u32 = {}u;\nconst TB: u32 = {}u;\n",
                        tile.rows, tile.lanes, tile.tokens
                    );
                }
                let fmt = source(file).unwrap_or_default();
                // The body declares the bindings the format file uses; put it first (its header
                // comment opens the module), then the specialization constants, the format file,
                // and the shared pieces: the matmul epilogue and Q4_0/Q4_1's common unit.
                let mut src = format!("{}\n{}{}", source(body).unwrap_or_default(), consts, fmt);
                if body == "matmul_w" {
                    src = format!(
                        "{}\n{}\n{}{}",
                        source(body).unwrap_or_default(),
                        source("matmul_x_f32").unwrap_or_default(),
                        consts,
                        fmt
                    );
                }
                if matches!(self, Kernel::Matmul(..)) {
                    src += &format!("\n{}", source("matmul_reduce").unwrap_or_default());
                }
                if matches!(
                    t,
                    GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::AWQ4_G32 | GgmlType::AWQ4_G64 | GgmlType::AWQ4_G128
                ) {
                    src += &format!("\n{}", source("matmul_q4_unit").unwrap_or_default());
                }
                src
            }
        }
    }

    /// The binding list of group 0 (explicit, so bindings a variant does not read — the scales
    /// of f32 weights, the step of argmax — keep their slots and one bind-group shape serves all).
    pub fn bindings(&self) -> &'static [Binding] {
        use Binding::*;
        match self {
            Kernel::Matmul(..) | Kernel::Embed(_) => &[Uniform, Uniform, Read, Read, Read, ReadWrite],
            Kernel::Plain("rmsnorm") | Kernel::Plain("rope") => &[Uniform, Uniform, Read, Read, ReadWrite],
            Kernel::Plain(n) if n.starts_with("mod_") => MOD_BINDINGS,
            Kernel::Plain("attention") => &[Uniform, Uniform, Read, Read, Read, ReadWrite],
            Kernel::Plain(_) => &[Uniform, Uniform, Read, ReadWrite],
        }
    }

    /// Every kernel variant the backend can build (for validation tests).
    pub fn all() -> Vec<Kernel> {
        let mut v: Vec<Kernel> =
            ["rmsnorm", "rope", "attention", "swiglu", "add", "argmax", "bench_read", "sample", "quantize_i8"]
                .iter()
                .chain(MOD_KERNELS)
                .map(|n| Kernel::Plain(n))
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

    pub fn get(&self, device: &wgpu::Device, k: &Kernel) -> Arc<wgpu::ComputePipeline> {
        if let Some(p) = self.pipelines.lock().unwrap_or_else(|e| e.into_inner()).get(k) {
            return p.clone();
        }
        let name = k.name();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&name),
            source: wgpu::ShaderSource::Wgsl(k.source().into()),
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
        p
    }

    pub fn len(&self) -> usize {
        self.pipelines.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
