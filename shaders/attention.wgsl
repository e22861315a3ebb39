// attention: causal grouped-query attention of this step's queries over the layer's KV cache
// (which already holds this step's keys and values at positions start … start+n_tok−1).
// Bindings: 0 step: uniform Step { n_tok, start }
//           1 p: uniform AttnParams { n_heads, group (query heads per KV head), head_dim, kv_dim,
//             scale, softcap (0 = none; else scores become softcap·tanh(s/softcap)), window (0 =
//             none; else a query sees its own entry and the window − 1 before it) }
//           2 q: storage [n_tok, n_heads·head_dim]   3 k_cache, 4 v_cache: storage [positions, kv_dim]
//           5 output: storage [n_tok, n_heads·head_dim]
// Threads: one workgroup of 16 per (head = workgroup x, token = workgroup y). Each thread runs an
// online softmax over positions lo+lid, lo+lid+16, … ≤ start+t, keeping its running max, sum and
// a weighted value vector (head_dim ≤ 256); the 16 partial states are merged in workgroup memory,
// 128 dimensions at a time.
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct AttnParams { n_heads: u32, group: u32, head_dim: u32, kv_dim: u32, scale: f32, softcap: f32, window: u32, pad0: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: AttnParams;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> output: array<f32>;

const WG: u32 = 16u;
const MAX_HD: u32 = 128u; // dimensions merged per pass through workgroup memory
var<workgroup> sm_m: array<f32, 16>;
var<workgroup> sm_l: array<f32, 16>;
var<workgroup> sm_acc: array<f32, 2048>; // WG * MAX_HD

@compute @workgroup_size(16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let h = wid.x;
    let t = wid.y;
    let hd = p.head_dim;
    let qd = p.n_heads * hd;
    let g = h / p.group;
    let qbase = t * qd + h * hd;
    let n_pos = step.start + t + 1u;
    var lo = 0u;
    if (p.window > 0u && n_pos > p.window) {
        lo = n_pos - p.window;
    }
    var m = -3.0e38;
    var l = 0.0;
    var acc: array<f32, 256>;
    for (var pos = lo + lid.x; pos < n_pos; pos += WG) {
        let kb = pos * p.kv_dim + g * hd;
        var s = 0.0;
        for (var d = 0u; d < hd; d++) {
            s += q[qbase + d] * k_cache[kb + d];
        }
        s *= p.scale;
        if (p.softcap > 0.0) {
            s = p.softcap * tanh(s / p.softcap);
        }
        let m_new = max(m, s);
        let corr = exp(m - m_new);
        let w = exp(s - m_new);
        l = l * corr + w;
        for (var d = 0u; d < hd; d++) {
            acc[d] = acc[d] * corr + w * v_cache[kb + d];
        }
        m = m_new;
    }
    sm_m[lid.x] = m;
    sm_l[lid.x] = l;
    workgroupBarrier();
    var gm = -3.0e38;
    for (var i = 0u; i < WG; i++) {
        gm = max(gm, sm_m[i]);
    }
    let my_scale = select(0.0, exp(m - gm), l > 0.0);
    var total = 0.0;
    for (var i = 0u; i < WG; i++) {
        total += select(0.0, sm_l[i] * exp(sm_m[i] - gm), sm_l[i] > 0.0);
    }
    for (var d0 = 0u; d0 < hd; d0 += MAX_HD) {
        let dn = min(MAX_HD, hd - d0);
        for (var d = 0u; d < dn; d++) {
            sm_acc[lid.x * MAX_HD + d] = acc[d0 + d] * my_scale;
        }
        workgroupBarrier();
        for (var d = lid.x; d < dn; d += WG) {
            var s = 0.0;
            for (var i = 0u; i < WG; i++) {
                s += sm_acc[i * MAX_HD + d];
            }
            output[qbase + d0 + d] = s / total;
        }
        workgroupBarrier();
    }
}
