// bench_read: the memory-bandwidth reference of `tritium bench` (not used by models). Every
// thread streams 16-byte words with a grid-stride loop and folds them with xor, so the only
// traffic is the read of `data` once; the result is written only when it equals a value the
// caller never uses, which keeps the loads alive without a store per thread.
// Bindings (group 0, the plain-kernel shape):
//   0 step:   uniform (unused; keeps the shared bind-group shape)
//   1 p:      uniform Params { words, threads, _, _ }   words = vec4<u32> count of `data`
//   2 data:   storage array<vec4<u32>> [words]
//   3 out:    storage array<u32> [1]
// Threads: 256 per workgroup, workgroup x + 65535·y; `threads` = total threads dispatched.
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct Params { words: u32, threads: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> data: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i0 = gid.x + gid.y * 65535u * 256u;
    var acc = vec4<u32>(0u);
    for (var i = i0; i < p.words; i += p.threads) {
        acc ^= data[i];
    }
    let v = acc.x ^ acc.y ^ acc.z ^ acc.w;
    if (v == 0x9e3779b9u) {
        out[0] = v;
    }
}
