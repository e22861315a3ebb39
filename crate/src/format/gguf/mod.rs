//! GGUF v2/v3 reader and writer.
//!
//! Layout (ggml `docs/gguf.md`): magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
//! metadata key/value pairs, tensor infos (name, n_dims, dims (innermost first), type, offset),
//! padding to `general.alignment` (default 32), then the tensor data section. All little-endian.
//!
//! [`GgufFile::parse`] reads the header and the tensor table only; tensors are [`TensorInfo`]
//! records whose data is a view (`&bytes[range]`) into the caller's buffer, never a copy. Every
//! count and length read from the file is checked against [`Limits`] before anything is
//! allocated, and every size computation is overflow-checked.
//!
//! - this file: [`GgufFile`] (parsing, metadata and tensor lookups) and [`TensorInfo`];
//! - the metadata value types ([`value`]);
//! - the bounds-checked byte reader ([`reader`]);
//! - the writer, `GgufWriter` ([`writer`]).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::quant::GgmlType;

mod reader;
pub mod value;
pub mod writer;

use reader::Reader;
pub use value::{Value, ValueType};
pub use writer::GgufWriter;

pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;

pub use crate::format::limits::Limits;

/// One entry of the tensor table.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions as GGUF stores them: `dims[0]` is the innermost (contiguous) one, so a
    /// matrix with `rows` rows of `cols` elements has `dims == [cols, rows]`.
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Offset relative to the start of the data section.
    pub offset: u64,
    /// Absolute offset of the first byte in the file.
    pub abs_offset: u64,
    /// Size of the data in bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    /// Number of rows (product of all dims but the innermost).
    pub fn rows(&self) -> u64 {
        self.dims.iter().skip(1).product()
    }
    /// Length of a row (the innermost dim).
    pub fn cols(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }
    /// Shape in row-major (numpy) order, outermost first.
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }
    pub fn range(&self) -> std::ops::Range<usize> {
        self.abs_offset as usize..(self.abs_offset + self.n_bytes) as usize
    }
}

/// A parsed GGUF header: metadata and tensor table. Tensor data stays in the caller's bytes.
#[derive(Clone, Debug)]
pub struct GgufFile {
    pub version: u32,
    /// Metadata in file order (GGUF keys are unique; order is kept for writing back).
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    /// Length of the file the header was parsed from.
    pub file_len: u64,
    index: BTreeMap<String, usize>,
    tensor_index: BTreeMap<String, usize>,
}

impl GgufFile {
    /// Parse the header and tensor table of `bytes` with the default limits.
    pub fn parse(bytes: &[u8]) -> Result<GgufFile> {
        Self::parse_with_limits(bytes, &Limits::default())
    }

    pub fn parse_with_limits(bytes: &[u8], limits: &Limits) -> Result<GgufFile> {
        let mut r = Reader { buf: bytes, pos: 0, limits };
        let magic = r.take(4, "magic")?;
        if magic != GGUF_MAGIC {
            return Err(Error::BadMagic { found: magic.try_into().unwrap() });
        }
        let version = r.u32("version")?;
        if version != 2 && version != 3 {
            return Err(Error::UnsupportedVersion { version });
        }
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.u64("metadata count")?;
        if n_tensors > limits.max_tensors {
            return Err(Error::Limit { what: "tensor count".into(), value: n_tensors, limit: limits.max_tensors });
        }
        if n_kv > limits.max_metadata {
            return Err(Error::Limit { what: "metadata count".into(), value: n_kv, limit: limits.max_metadata });
        }
        let mut metadata = Vec::with_capacity(n_kv.min(1024) as usize);
        let mut index = BTreeMap::new();
        for i in 0..n_kv {
            let key = r.string(&format!("metadata key #{i}"))?;
            let at = r.pos;
            let t_raw = r.u32(&format!("type of '{key}'"))?;
            let t = ValueType::from_u32(t_raw).ok_or_else(|| {
                Error::Malformed(format!("metadata '{key}': unknown value type {t_raw} at offset {at}"))
            })?;
            let v = r.value(t, &key, 0)?;
            if index.insert(key.clone(), metadata.len()).is_some() {
                return Err(Error::Malformed(format!("metadata key '{key}' appears twice")));
            }
            metadata.push((key, v));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => {
                let a = v.as_u64().ok_or_else(|| Error::WrongKeyType {
                    key: "general.alignment".into(),
                    expected: "unsigned integer".into(),
                    found: v.type_name().into(),
                })?;
                if a == 0 || !a.is_power_of_two() || a > 1 << 20 {
                    return Err(Error::Malformed(format!(
                        "general.alignment is {a}; it must be a power of two up to 1 MiB"
                    )));
                }
                a
            }
        };

        let mut tensors = Vec::with_capacity(n_tensors.min(4096) as usize);
        let mut tensor_index = BTreeMap::new();
        for i in 0..n_tensors {
            let name = r.string(&format!("name of tensor #{i}"))?;
            let n_dims = r.u32(&format!("n_dims of tensor '{name}'"))?;
            if n_dims == 0 || n_dims > limits.max_dims {
                return Err(Error::Limit {
                    what: format!("dimension count of tensor '{name}'"),
                    value: n_dims as u64,
                    limit: limits.max_dims as u64,
                });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64(&format!("dims of tensor '{name}'"))?);
            }
            let type_id = r.u32(&format!("type of tensor '{name}'"))?;
            let offset = r.u64(&format!("offset of tensor '{name}'"))?;
            let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| Error::UnsupportedTensorType {
                tensor: name.clone(),
                type_id,
                type_name: crate::quant::ggml_type_name(type_id).to_string(),
            })?;
            let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
                Error::Overflow { what: format!("element count of tensor '{name}' with dims {dims:?}") }
            })?;
            if dims[0] % ggml_type.block_size() as u64 != 0 {
                return Err(Error::BadTensor {
                    tensor: name.clone(),
                    message: format!(
                        "row length {} is not a multiple of the {} block size {}",
                        dims[0],
                        ggml_type.name(),
                        ggml_type.block_size()
                    ),
                });
            }
            let n_bytes = ggml_type
                .tensor_bytes(n_elements)
                .ok_or_else(|| Error::Overflow { what: format!("byte size of tensor '{name}'") })?;
            if offset % alignment != 0 {
                return Err(Error::Malformed(format!(
                    "tensor '{name}': offset {offset} is not a multiple of the alignment {alignment}"
                )));
            }
            if tensor_index.insert(name.clone(), tensors.len()).is_some() {
                return Err(Error::Malformed(format!("tensor name '{name}' appears twice")));
            }
            tensors.push(TensorInfo { name, dims, ggml_type, offset, abs_offset: 0, n_bytes });
        }
        let header_end = r.pos as u64;
        let data_offset = header_end.div_ceil(alignment) * alignment;
        let file_len = bytes.len() as u64;
        for t in &mut tensors {
            let start = data_offset
                .checked_add(t.offset)
                .ok_or_else(|| Error::Overflow { what: format!("data offset of tensor '{}'", t.name) })?;
            let end = start
                .checked_add(t.n_bytes)
                .ok_or_else(|| Error::Overflow { what: format!("data end of tensor '{}'", t.name) })?;
            if end > file_len {
                return Err(Error::OutOfBounds { tensor: t.name.clone(), start, end, len: file_len });
            }
            t.abs_offset = start;
        }
        Ok(GgufFile { version, metadata, tensors, alignment, data_offset, file_len, index, tensor_index })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| Error::MissingKey { key: key.to_string() })
    }

    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| wrong(key, "string", v)),
        }
    }

    pub fn require_str(&self, key: &str) -> Result<&str> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| wrong(key, "string", v))
    }

    pub fn get_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| wrong(key, "unsigned integer", v)),
        }
    }

    pub fn require_u64(&self, key: &str) -> Result<u64> {
        let v = self.require(key)?;
        v.as_u64().ok_or_else(|| wrong(key, "unsigned integer", v))
    }

    pub fn get_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| wrong(key, "number", v)),
        }
    }

    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| wrong(key, "bool", v)),
        }
    }

    pub fn get_array(&self, key: &str) -> Result<Option<&[Value]>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_array().map(Some).ok_or_else(|| wrong(key, "array", v)),
        }
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    pub fn require_tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensor(name).ok_or_else(|| Error::MissingTensor { tensor: name.to_string() })
    }

    /// The data of `t` as a view into `bytes` (the buffer the header was parsed from).
    pub fn tensor_data<'b>(&self, bytes: &'b [u8], t: &TensorInfo) -> Result<&'b [u8]> {
        if bytes.len() as u64 != self.file_len {
            return Err(Error::InvalidArgument(format!(
                "tensor_data: buffer of {} bytes is not the {}-byte file this header was parsed from",
                bytes.len(),
                self.file_len
            )));
        }
        Ok(&bytes[t.range()])
    }
}

fn wrong(key: &str, expected: &str, v: &Value) -> Error {
    Error::WrongKeyType { key: key.to_string(), expected: expected.to_string(), found: v.type_name().to_string() }
}
