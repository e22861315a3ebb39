//! The WebGPU backend (wgpu: WebGPU in the browser, Vulkan/Metal/DX12 natively).
//!
//! - [`GpuContext::new`]: one async constructor that negotiates the adapter, the optional
//!   features (shader-f16, subgroups, timestamp queries: recorded when granted, never required)
//!   and the limits (the model's needs, up to the adapter's maximum).
//! - [`kernels`]: the shader registry (`include_str!` of shaders/*.wgsl) and the pipeline cache.
//! - [`weights`]: repacking of ggml blocks into 4-byte-aligned segments, sharded under
//!   `maxStorageBufferBindingSize`.
//! - [`model`]: the forward pass on the GPU; only token ids (and, for tests, logits) are read back.

pub mod bench;
pub mod kernels;
pub mod model;
pub(crate) mod ops;
pub mod record;
pub mod selftest;
pub mod shaders;
pub mod tiles;
pub mod weights;

use std::sync::Arc;

use serde::Serialize;

use crate::error::{Error, Result};

/// WebGPU's default `maxStorageBufferBindingSize` (128 MiB); adapters may grant more.
pub const DEFAULT_MAX_STORAGE_BINDING: u64 = 128 << 20;

#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Use only the f32 / no-subgroup paths even when the adapter offers more.
    pub force_f32: bool,
    /// Cap `maxStorageBufferBindingSize` (tests force 4 MiB to exercise sharding).
    pub max_storage_binding: Option<u64>,
    /// Prefer a software adapter (lavapipe / SwiftShader) — for tests.
    pub force_fallback_adapter: bool,
    /// Override the matmul tiles chosen for the adapter (benchmarks, tests).
    pub tiles: Option<kernels::Tiles>,
    /// Int8 activations (MXINT8 blocks, `dot4I8Packed`) for the quantized formats where the
    /// adapter's WGSL has packed_4x8_integer_dot_product: faster (README), but the logits move by
    /// the activations' rounding, so greedy tokens can differ from the f32 CPU reference's.
    pub int8: bool,
}

/// What the adapter is and what was negotiated.
#[derive(Clone, Debug, Serialize)]
pub struct Capabilities {
    pub adapter: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub shader_f16: bool,
    pub subgroups: bool,
    pub timestamp_query: bool,
    pub forced_f32: bool,
    /// A software rasterizer (lavapipe, SwiftShader, WARP): picks the CPU-shaped matmul tiles.
    pub software: bool,
    /// WGSL's packed_4x8_integer_dot_product (`dot4I8Packed`) is available.
    pub int8_dot: bool,
    /// Int8 activations are in use (`GpuOptions::int8`, available, not `force_f32`).
    pub int8: bool,
    /// The default matmul tiles (decode, prefill); some formats use others (`kernels::tiles_for`).
    pub tiles: kernels::Tiles,
    /// Tiles forced by `GpuOptions::tiles` for every format.
    pub tiles_forced: bool,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_storage_size: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_storage_buffers_per_shader_stage: u32,
}

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub caps: Capabilities,
    pub kernels: kernels::KernelCache,
    /// Set by the device-lost callback: every later step fails with `E_GPU_LOST`.
    lost: Arc<std::sync::Mutex<Option<String>>>,
    /// The first error no error scope caught (wgpu would otherwise panic natively).
    uncaptured: Arc<std::sync::Mutex<Option<String>>>,
}

impl GpuContext {
    // In wasm, wgpu's handles are not Send/Sync; the context is still shared through an Arc.
    #[allow(clippy::arc_with_non_send_sync)]
    pub async fn new(opts: &GpuOptions) -> Result<Arc<GpuContext>> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::PRIMARY,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: opts.force_fallback_adapter,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| Error::Gpu {
                code: "E_NO_ADAPTER",
                message: format!("no WebGPU adapter: {e}; use the CPU backend"),
            })?;
        let info = adapter.get_info();
        let have = adapter.features();
        let mut want = wgpu::Features::empty();
        let shader_f16 = !opts.force_f32 && have.contains(wgpu::Features::SHADER_F16);
        let subgroups = !opts.force_f32 && have.contains(wgpu::Features::SUBGROUP);
        let timestamp_query = have.contains(wgpu::Features::TIMESTAMP_QUERY);
        if shader_f16 {
            want |= wgpu::Features::SHADER_F16;
        }
        if subgroups {
            want |= wgpu::Features::SUBGROUP;
        }
        if timestamp_query {
            want |= wgpu::Features::TIMESTAMP_QUERY;
        }
        let al = adapter.limits();
        // Ask for the largest bindings and buffers the adapter allows (models are big), and the
        // rest at WebGPU defaults.
        let mut limits = wgpu::Limits::default().using_resolution(al.clone());
        limits.max_storage_buffer_binding_size = al.max_storage_buffer_binding_size;
        limits.max_buffer_size = al.max_buffer_size;
        limits.max_storage_buffers_per_shader_stage = al.max_storage_buffers_per_shader_stage.min(10);
        limits.max_compute_workgroup_storage_size = al.max_compute_workgroup_storage_size;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("tritium"),
                required_features: want,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::Gpu { code: "E_GPU_DEVICE", message: format!("request_device failed: {e}") })?;
        let max_binding = opts
            .max_storage_binding
            .unwrap_or(u64::MAX)
            .min(limits.max_storage_buffer_binding_size as u64)
            .min(limits.max_buffer_size);
        let ident = format!("{} {} {}", info.name, info.driver, info.driver_info).to_ascii_lowercase();
        let software = info.device_type == wgpu::DeviceType::Cpu
            || ["llvmpipe", "lavapipe", "swiftshader", "warp", "microsoft basic render"]
                .iter()
                .any(|s| ident.contains(s));
        let int8_dot =
            instance.wgsl_language_features().contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct);
        let caps = Capabilities {
            software,
            int8_dot,
            int8: int8_dot && opts.int8 && !opts.force_f32,
            tiles: opts.tiles.unwrap_or_else(|| kernels::Tiles::for_device_type(software)),
            tiles_forced: opts.tiles.is_some(),
            adapter: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            shader_f16,
            subgroups,
            timestamp_query,
            forced_f32: opts.force_f32,
            max_storage_buffer_binding_size: max_binding,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroup_storage_size: limits.max_compute_workgroup_storage_size,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
        };
        let lost = Arc::new(std::sync::Mutex::new(None));
        let l2 = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut g) = l2.lock() {
                *g = Some(format!("{reason:?}: {msg}"));
            }
        });
        let uncaptured = Arc::new(std::sync::Mutex::new(None));
        let u2 = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut g) = u2.lock() {
                g.get_or_insert_with(|| e.to_string());
            }
        }));
        Ok(Arc::new(GpuContext { device, queue, caps, kernels: kernels::KernelCache::default(), lost, uncaptured }))
    }

    /// The matmul tiles for weights of format `ty` on this adapter.
    /// Int8 activations (`kernels::tiles_i8_for`) where the format has them and the context uses
    /// them (`caps.int8`; forced tiles keep an `…i` tile only then too).
    pub fn tiles_for(&self, ty: crate::quant::GgmlType) -> kernels::Tiles {
        let t = if self.caps.tiles_forced {
            self.caps.tiles
        } else if self.caps.int8 {
            kernels::tiles_i8_for(ty, self.caps.software).unwrap_or_else(|| kernels::tiles_for(ty, self.caps.software))
        } else {
            kernels::tiles_for(ty, self.caps.software)
        };
        if self.caps.int8 {
            t
        } else {
            t.without_i8()
        }
    }

    /// Native convenience: block on [`GpuContext::new`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(opts: &GpuOptions) -> Result<Arc<GpuContext>> {
        pollster::block_on(Self::new(opts))
    }

    /// Run `f` inside validation and out-of-memory error scopes; a GPU error becomes a typed
    /// error instead of stale data.
    pub async fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        if let Some(e) = val.pop().await {
            let _ = oom.pop().await;
            // On a lost device every call fails validation: report the loss itself.
            self.check()?;
            return Err(Error::Gpu { code: "E_GPU_VALIDATION", message: format!("{what}: {e}") });
        }
        if let Some(e) = oom.pop().await {
            return Err(Error::Gpu { code: "E_GPU_OOM", message: format!("{what}: out of GPU memory: {e}") });
        }
        Ok(out)
    }

    /// A typed error if the device was lost or a GPU error escaped the error scopes; results
    /// read after such an error would be stale, so they are never returned.
    pub fn check(&self) -> Result<()> {
        if let Some(m) = self.lost.lock().ok().and_then(|g| g.clone()) {
            return Err(Error::Gpu {
                code: "E_GPU_LOST",
                message: format!("the GPU device was lost ({m}); load the model again"),
            });
        }
        if let Some(m) = self.uncaptured.lock().ok().and_then(|g| g.clone()) {
            return Err(Error::Gpu { code: "E_GPU_VALIDATION", message: format!("GPU error: {m}") });
        }
        Ok(())
    }

    /// GPU buffers alive on this device, natively, after letting the device free the ones
    /// already dropped. Counted by wgpu-core when its `counters` feature is on (the native
    /// tests turn it on); 0 otherwise and in the browser, where WebGPU exposes no count.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn live_buffers(&self) -> i64 {
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        self.device.get_internal_counters().hal.buffers.read() as i64
    }

    /// Destroy the device now, as a driver reset or a lost GPU would (a test hook for device
    /// loss): every later step fails with `E_GPU_LOST`.
    pub fn lose_device(&self, why: &str) {
        if let Ok(mut g) = self.lost.lock() {
            g.get_or_insert_with(|| format!("Destroyed: {why}"));
        }
        self.device.destroy();
    }

    /// Whether the device was lost (a new context is needed to use the GPU again).
    pub fn is_lost(&self) -> bool {
        self.lost.lock().map(|g| g.is_some()).unwrap_or(true)
    }

    /// Read back a small buffer (a MAP_READ staging buffer) as bytes.
    pub async fn read_buffer(&self, buf: &wgpu::Buffer) -> Result<Vec<u8>> {
        self.check()?;
        let slice = buf.slice(..);
        let (tx, rx) = futures_channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu { code: "E_GPU_LOST", message: format!("device poll failed: {e}") })?;
        let mapped = rx.recv().await;
        // A lost device fails every mapping: report the loss, not the mapping.
        self.check()?;
        mapped.map_err(|e| Error::Gpu { code: "E_GPU_READBACK", message: format!("buffer map failed: {e}") })?;
        self.check()?;
        let data = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu { code: "E_GPU_READBACK", message: format!("buffer view failed: {e}") })?
            .to_vec();
        buf.unmap();
        Ok(data)
    }
}

/// A one-shot channel for map_async callbacks that works natively and in wasm without extra
/// dependencies.
fn futures_channel() -> (OneShotTx, OneShotRx) {
    let slot = Arc::new(std::sync::Mutex::new(OneShot { value: None, waker: None }));
    (OneShotTx(slot.clone()), OneShotRx(slot))
}

struct OneShot {
    value: Option<std::result::Result<(), wgpu::BufferAsyncError>>,
    waker: Option<std::task::Waker>,
}

struct OneShotTx(Arc<std::sync::Mutex<OneShot>>);
struct OneShotRx(Arc<std::sync::Mutex<OneShot>>);

impl OneShotTx {
    fn send(self, v: std::result::Result<(), wgpu::BufferAsyncError>) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.value = Some(v);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl OneShotRx {
    async fn recv(self) -> std::result::Result<(), wgpu::BufferAsyncError> {
        std::future::poll_fn(|cx| {
            let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
            match s.value.take() {
                Some(v) => std::task::Poll::Ready(v),
                None => {
                    s.waker = Some(cx.waker().clone());
                    std::task::Poll::Pending
                }
            }
        })
        .await
    }
}
