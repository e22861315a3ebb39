//! [`QMatrix`]: a quantized weight matrix viewing its bytes, row by row.

use super::GgmlType;
use crate::error::Result;

/// A quantized weight matrix `[rows, cols]` (nn.Linear layout: one row per output) viewing
/// the model's bytes.
#[derive(Clone, Copy, Debug)]
pub struct QMatrix<'a> {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
}

impl<'a> QMatrix<'a> {
    pub fn row_bytes(&self) -> usize {
        self.ty.bytes_for(self.cols)
    }

    pub fn row(&self, r: usize) -> &'a [u8] {
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }

    /// Dequantize row `r` into `out` (`out.len() == cols`).
    pub fn dequant_row(&self, r: usize, out: &mut [f32]) -> Result<()> {
        super::dequantize(self.ty, self.row(r), out)
    }
}
