// matmul_x_f32: the f32 input of the word body (shaders/matmul_w.wgsl), appended by the registry.
//   binding 2 weights: the format's u32 words (matmul.wgsl documents the layout)
//   binding 4 input4: [n_tok, cols] f32 read as vec4 (cols a multiple of 4)
// The format files' `dot_sub` still names a scalar `input`: a private dummy satisfies it (the
// word body never calls dot_sub).
@group(0) @binding(2) var<storage, read> weights: array<u32>;
@group(0) @binding(4) var<storage, read> input4: array<vec4<f32>>;
var<private> input: array<f32, 32>;

// x[c … c+3] of the input (c a multiple of 4).
fn xv(c: u32) -> vec4<f32> {
    return input4[c >> 2u];
}

// Nothing to stage: the word body reads the input where it is.
fn stage_x(lid: u32) {}
