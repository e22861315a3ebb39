//! Int8 activation blocks (OCP Microscaling MXINT8): what the int8 matrix products of the GPU
//! read, and their bit-exact CPU reference.

/// Int8 activations, dequantized, in the OCP Microscaling MXINT8 form: per 32-element block of
/// each `cols`-wide row a power-of-two scale d = 2^(⌊log2 max|x|⌋ − 6) and codes
/// q = round(x / d) (ties to even, saturated to ±127), x' = d · q; all zero when max|x| < 2^-100.
/// A power of two makes x / d exact, so this is bit for bit what shaders/quantize_i8.wgsl hands
/// the GPU's int8 kernels on any adapter (a scale max|x| / 127 would need a division, which
/// WGSL allows 2.5 ulp of error, and one flipped code in a block with an outlier moves x by d),
/// and a product with x' is their reference.
pub fn quantize_i8(x: &[f32], cols: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(cols) {
        for b in row.chunks(32) {
            let (mul, d) = i8_block_scale(b.iter().fold(0f32, |m, v| m.max(v.abs())));
            out.extend(b.iter().map(|v| d * (v * mul).round_ties_even().clamp(-127.0, 127.0)));
        }
    }
    out
}

/// (1 / d, d) of [`quantize_i8`] for a block whose max |x| is `amax`, from its exponent bits.
pub fn i8_block_scale(amax: f32) -> (f32, f32) {
    let e = (amax.to_bits() >> 23) & 0xff;
    if (27..255).contains(&e) {
        (f32::from_bits((260 - e) << 23), f32::from_bits((e - 6) << 23))
    } else {
        (0.0, 0.0)
    }
}
