//! Matmul tiles: how a weight product's threads map onto rows, lanes and tokens, which tile each
//! adapter class and weight format gets, and which actually runs for a given width.

use super::shaders::{has_units, i8_source};
use crate::quant::GgmlType;

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
