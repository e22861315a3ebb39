//! [`GgufWriter`]: GGUF v3 files from metadata and tensors.

use super::{Value, DEFAULT_ALIGNMENT, GGUF_MAGIC};
use crate::error::{Error, Result};
use crate::quant::GgmlType;

/// Writes GGUF v3 files. Tensors are laid out in the order they are added, each aligned.
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
    alignment: u64,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    pub fn new() -> Self {
        GgufWriter { metadata: Vec::new(), tensors: Vec::new(), alignment: DEFAULT_ALIGNMENT }
    }

    /// Start from an existing file's metadata (tensors are added separately).
    pub fn with_metadata(metadata: Vec<(String, Value)>) -> Self {
        let mut w = Self::new();
        for (k, v) in metadata {
            w.set(&k, v);
        }
        w
    }

    pub fn set(&mut self, key: &str, value: Value) {
        if key == "general.alignment" {
            if let Some(a) = value.as_u64() {
                if a.is_power_of_two() && a > 0 {
                    self.alignment = a;
                }
            }
        }
        if let Some(slot) = self.metadata.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        } else {
            self.metadata.push((key.to_string(), value));
        }
    }

    /// Add a tensor; `dims` in GGUF order (innermost first), `data` already encoded in `ty`.
    pub fn add_tensor(&mut self, name: &str, dims: &[u64], ty: GgmlType, data: Vec<u8>) -> Result<()> {
        let n: u64 = dims.iter().product();
        if ty.is_internal() {
            return Err(Error::BadTensor {
                tensor: name.into(),
                message: format!("{} is tritium's in-memory format; write it with model::save::add_linear", ty.name()),
            });
        }
        if dims.is_empty() || dims[0] % ty.block_size() as u64 != 0 {
            return Err(Error::BadTensor {
                tensor: name.into(),
                message: format!("row length {:?} is not a multiple of the {} block size", dims.first(), ty.name()),
            });
        }
        let expect = ty.tensor_bytes(n).unwrap_or(u64::MAX);
        if data.len() as u64 != expect {
            return Err(Error::BadTensor {
                tensor: name.into(),
                message: format!("{} bytes given, {} expected for {:?} {}", data.len(), expect, dims, ty.name()),
            });
        }
        self.tensors.push((name.to_string(), dims.to_vec(), ty, data));
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&GGUF_MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            write_str(&mut out, k);
            out.extend_from_slice(&(v.value_type() as u32).to_le_bytes());
            write_value(&mut out, v);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::with_capacity(self.tensors.len());
        for (name, dims, ty, data) in &self.tensors {
            write_str(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&ty.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + data.len() as u64).div_ceil(self.alignment) * self.alignment;
        }
        let pad = |out: &mut Vec<u8>, a: u64| {
            let n = (out.len() as u64).div_ceil(a) * a - out.len() as u64;
            out.extend(std::iter::repeat_n(0u8, n as usize));
        };
        pad(&mut out, self.alignment);
        let base = out.len() as u64;
        for ((_, _, _, data), off) in self.tensors.iter().zip(offsets) {
            let want = base + off;
            out.extend(std::iter::repeat_n(0u8, (want - out.len() as u64) as usize));
            out.extend_from_slice(data);
        }
        out
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => write_str(out, s),
        Value::Array(t, items) => {
            out.extend_from_slice(&(*t as u32).to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for it in items {
                write_value(out, it);
            }
        }
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}
