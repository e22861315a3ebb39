// mod_common: declarations shared by the Mixture-of-Depths (p-MoD) prefill kernels, appended to
// each shaders/mod_*.wgsl by the registry (crate/src/backend/gpu/kernels.rs). Every mod_* kernel
// has this one bind-group layout (one bind group per layer: only k_cache differs).
// Bindings: 0 step: uniform ModStep (the layer and chunk being run; rewritten before each submit)
//           1 p: uniform ModParams (model shape, and the offsets of aux's regions in floats)
//           2 xfull: storage f32 [n, dim]: the whole prompt's residual stream
//           3 x: storage f32 [MAX_BATCH, dim]: the forward pass's residual rows of this chunk
//           4 sel: storage u32: kept flags [n_layers, n] (1 = the layer processes the token; read
//             back once as the retention masks), then at p.kept the layer's kept list [nk]
//             (prompt indices, increasing)
//           5 aux: storage f32: scores [n_target] at p.scores | w̃ per prompt token [n] at p.wfull
//             | attention received [n] at p.attn | the chunk's w̃ [MAX_BATCH] at p.wchunk | softmax
//             (max, 1/sum) [n_heads, window, 2] at p.stats | router weights [n_layers, dim] at
//             p.router_w | router biases [n_layers] at p.router_b | lsq coefficients
//             [n_layers, dim + 2] at p.lsq | the layer's queries after RoPE [nk, n_heads·head_dim]
//             at p.qfull
//           6 positions: storage u32 [MAX_BATCH]: the chunk's position ids (read by rope.wgsl)
//           7 proj: storage f32 [MAX_BATCH, dim]: the FFN's output rows of this chunk
//           8 k_cache: storage f32 [positions, kv_dim]: the layer's keys
struct ModStep {
    n: u32, span_start: u32, span_end: u32, k: u32,
    layer: u32, chunk_off: u32, chunk_n: u32, pos_base: u32,
    nk: u32, first: u32, before: u32, router: u32,
    mod_layer: u32, pad0: u32, pad1: u32, pad2: u32,
}
struct ModParams {
    dim: u32, n_heads: u32, group: u32, head_dim: u32,
    kv_dim: u32, scale: f32, n_layers: u32, pad0: u32,
    scores: u32, wfull: u32, attn: u32, wchunk: u32,
    stats: u32, router_w: u32, router_b: u32, lsq: u32,
    qfull: u32, kept: u32, pad1: u32, pad2: u32,
}

// ModStep.router
const ROUTER_TRAINED: u32 = 0u;
const ROUTER_LSQ: u32 = 1u;
const ROUTER_ATTN: u32 = 2u;
const ROUTER_RANDOM: u32 = 3u;

@group(0) @binding(0) var<uniform> step: ModStep;
@group(0) @binding(1) var<uniform> p: ModParams;
@group(0) @binding(2) var<storage, read_write> xfull: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> sel: array<u32>;
@group(0) @binding(5) var<storage, read_write> aux: array<f32>;
@group(0) @binding(6) var<storage, read_write> positions: array<u32>;
@group(0) @binding(7) var<storage, read> proj: array<f32>;
@group(0) @binding(8) var<storage, read> k_cache: array<f32>;

// Flat index of a 1-D thread grid folded into 2-D (x + y·65535·64; 64 threads per workgroup).
fn flat(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * 65535u * 64u;
}
