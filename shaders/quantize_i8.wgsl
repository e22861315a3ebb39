// quantize_i8: int8 activations for the int8 matmul units (tiles `…i`): each 32-element block of
// the step's [n_tok, cols] input in the OCP Microscaling MXINT8 form of shaders/mxint8.wgsl
// (appended by the registry). Blocks are numbered across rows (block b = element 32b); with
// NB = n_tok · blocks, the output is three planes, so that neighbouring lanes of a matmul, which
// take neighbouring blocks, read neighbouring 16-byte words (shaders/matmul_x_i8.wgsl):
//   words 4b … 4b+3            code words 0 … 3 of block b (element 4k+i in byte i of word k)
//   words 4NB + 4b … 4NB+4b+3  code words 4 … 7
//   words 8NB + 2b, 8NB + 2b+1 the block scale d (f32 bits, a power of two) and Σq (f32, exact)
// Bindings: 0 step: uniform Step   1 p: uniform QParams { cols, blocks (= cols / 32), _ }
//           2 x: storage array<f32> [n_tok, cols]   3 out: storage array<u32> [10 · NB (+ 2)]
// Threads: one per block, 64 per workgroup; 2-D folded (x + y·65535·64) like the elementwise ops.
struct Step { n_tok: u32, start: u32, pad0: u32, pad1: u32 }
struct QParams { cols: u32, blocks: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: QParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * 65535u * 64u;
    if (i >= step.n_tok * p.blocks) {
        return;
    }
    let base = i * 32u;
    var v: array<vec4<f32>, 8>;
    for (var k = 0u; k < 8u; k++) {
        v[k] = vec4<f32>(x[base + 4u * k], x[base + 4u * k + 1u], x[base + 4u * k + 2u], x[base + 4u * k + 3u]);
    }
    let b = mxint8(v);
    let nb = step.n_tok * p.blocks;
    for (var k = 0u; k < 4u; k++) {
        out[4u * i + k] = b.q[k];
        out[4u * (nb + i) + k] = b.q[4u + k];
    }
    out[8u * nb + 2u * i] = bitcast<u32>(b.d);
    out[8u * nb + 2u * i + 1u] = bitcast<u32>(b.sum);
}
