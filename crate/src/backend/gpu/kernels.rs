//! Kernels and the pipeline cache.
//!
//! A kernel is a standalone shader file ([`Shader`], the registry in `shaders.rs`) or a
//! weight-format product / embedding composed from several: `matmul_<format>.wgsl` defines the
//! format's loads and is joined with the format-independent body (`matmul.wgsl`, `matmul_w.wgsl`
//! or `embed.wgsl`). tritium's internal formats share one file per family (`matmul_awq4.wgsl`
//! serves AWQ4_G32/G64/G128, `matmul_tp.wgsl` serves TP1_G*/TP2_G* and TQ2_0, repacked at upload
//! into one plane with group 256); the constants that specialize them (`GROUP`, `PLANES`, the
//! tile's `ROWS`/`LANES`/`TB`) are injected between the body and the format file. A pipeline is
//! keyed by its [`Kernel`] and labelled with [`Kernel::name`], which starts with the file that
//! defines it. `Kernel::all()` lists every specialization, so the validation test covers each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use super::shaders::{format_source, format_suffix, has_units, i8_source, Shader};
pub use super::tiles::{
    effective_tile, standard_tiles, tiles_for, tiles_i8_for, Tile, Tiles, FUSED_MAX_BLOCKS, FUSED_WORKGROUP_BYTES,
};
use crate::error::{Error, Result};
use crate::quant::GgmlType;

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
            Kernel::Plain(Shader::ScaleCap | Shader::ActQuant) => &[Uniform, Uniform, ReadWrite],
            Kernel::Plain(_) => &[Uniform, Uniform, Read, ReadWrite],
        }
    }

    /// Every kernel the backend can build (for validation tests): each standalone kernel, and
    /// each weight format's matmul (every standard tile) and embedding.
    pub fn all() -> Vec<Kernel> {
        use Shader::*;
        let mut v: Vec<Kernel> = [
            Rmsnorm,
            RmsnormHeads,
            Bias,
            ScaleCap,
            ActQuant,
            Rope,
            Attention,
            Swiglu,
            Add,
            Argmax,
            BenchRead,
            Sample,
            QuantizeI8,
        ]
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
