// matmul_x_i8s: the int8 input of the word body (shaders/matmul_w.wgsl) for one token, quantized
// by the workgroup itself (tiles `…f`, decode only): appended by the registry before a
// shaders/matmul_i8_<format>.wgsl unit file and shaders/mxint8.wgsl, in place of the separate
// quantize pass (shaders/quantize_i8.wgsl) and shaders/matmul_x_i8.wgsl. One dispatch instead of
// two, and no round trip of the codes through memory; each workgroup re-reads the f32 input
// (cols · 4 bytes, from L2 on hardware GPUs) and quantizes it with the same mxint8() as the
// separate pass, so the codes are the same bits. Measured on an H100 (README): no faster than the
// two passes at 4096×11008, slower for the 4-bit formats; kept as a tile option (`…f`).
//   binding 4 input4: the f32 input [1, cols] read as vec4 (cols a multiple of 32)
// The registry injects `const XBLOCKS: u32` = cols / 32 (the workgroup arrays below need a constant
// size: XBLOCKS · 40 bytes plus the reduction's WG · 4 must fit the 16 KiB every WebGPU device
// grants; the registry falls back to the two-pass tile beyond that).
// Workgroup memory: block b's code words 0 … 3 in xs[b], 4 … 7 in xs[XBLOCKS + b] (the planes of
// shaders/matmul_x_i8.wgsl), its (d, Σq) in xd[b].
// Threads: stage_x gives thread lid blocks lid, lid+WG, …; each reads its block's 32 floats.
// binding 2 weights4: as in shaders/matmul_x_i8.wgsl.
@group(0) @binding(2) var<storage, read> weights4: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> input4: array<vec4<f32>>;

const EPW: u32 = 32u;

var<workgroup> xs: array<vec4<u32>, XBLOCKS * 2u>;
var<workgroup> xd: array<vec2<f32>, XBLOCKS>;

fn stage_x(lid: u32) {
    for (var b = lid; b < XBLOCKS; b += WG) {
        var v: array<vec4<f32>, 8>;
        for (var k = 0u; k < 8u; k++) {
            v[k] = input4[8u * b + k];
        }
        let q = mxint8(v);
        xs[b] = vec4<u32>(q.q[0], q.q[1], q.q[2], q.q[3]);
        xs[XBLOCKS + b] = vec4<u32>(q.q[4], q.q[5], q.q[6], q.q[7]);
        xd[b] = vec2<f32>(q.d, q.sum);
    }
    workgroupBarrier();
}

// The handle of the block that starts at element c of the input: its index (c a multiple of 32;
// one token, so c < cols).
fn xblock(c: u32) -> u32 {
    return c >> 5u;
}

// Code words 4h … 4h+3 (elements 16h … 16h+15) of block b.
fn xcodes(b: u32, h: u32) -> vec4<u32> {
    return xs[h * XBLOCKS + b];
}

// (d, Σq) of block b.
fn xscale(b: u32) -> vec2<f32> {
    return xd[b];
}
