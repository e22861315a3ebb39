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

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::quant::GgmlType;

pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;

pub use crate::format::limits::Limits;

/// GGUF metadata value type ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ValueType {
    U8 = 0,
    I8 = 1,
    U16 = 2,
    I16 = 3,
    U32 = 4,
    I32 = 5,
    F32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    U64 = 10,
    I64 = 11,
    F64 = 12,
}

impl ValueType {
    pub fn from_u32(v: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match v {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }
}

/// A metadata value. Arrays keep their element type so they can be written back unchanged
/// (an empty array still has one).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(ValueType, Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(..) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::F32(_) => "f32",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(..) => "array",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
        }
    }

    /// Any integer type as u64 (negative values give None).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer type as i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v as i64),
            Value::I16(v) => Some(v as i64),
            Value::I32(v) => Some(v as i64),
            Value::I64(v) => Some(v),
            Value::U8(v) => Some(v as i64),
            Value::U16(v) => Some(v as i64),
            Value::U32(v) => Some(v as i64),
            Value::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any numeric type as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(_, v) => Some(v),
            _ => None,
        }
    }

    /// A short human-readable rendering (long arrays are summarized).
    pub fn summary(&self) -> String {
        match self {
            Value::String(s) => {
                if s.chars().count() > 80 {
                    let head: String = s.chars().take(77).collect();
                    format!("{head}…")
                } else {
                    s.clone()
                }
            }
            Value::Array(t, v) => {
                if v.len() <= 8 {
                    let items: Vec<String> = v.iter().map(|x| x.summary()).collect();
                    format!("[{}]", items.join(", "))
                } else {
                    format!("[{} × {:?}]", v.len(), t)
                }
            }
            Value::U8(v) => v.to_string(),
            Value::I8(v) => v.to_string(),
            Value::U16(v) => v.to_string(),
            Value::I16(v) => v.to_string(),
            Value::U32(v) => v.to_string(),
            Value::I32(v) => v.to_string(),
            Value::F32(v) => v.to_string(),
            Value::Bool(v) => v.to_string(),
            Value::U64(v) => v.to_string(),
            Value::I64(v) => v.to_string(),
            Value::F64(v) => v.to_string(),
        }
    }
}

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

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: &'a Limits,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
        let remaining = (self.buf.len() - self.pos) as u64;
        if n > remaining {
            return Err(Error::Truncated {
                what: what.to_string(),
                offset: self.pos as u64,
                needed: n,
                len: self.buf.len() as u64,
            });
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.pos;
        let len = self.u64(what)?;
        if len > self.limits.max_string {
            return Err(Error::Limit {
                what: format!("length of {what} at offset {at}"),
                value: len,
                limit: self.limits.max_string,
            });
        }
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::Malformed(format!("{what} at offset {at} is not valid UTF-8")))
    }

    fn value(&mut self, t: ValueType, key: &str, depth: u32) -> Result<Value> {
        Ok(match t {
            ValueType::U8 => Value::U8(self.u8(key)?),
            ValueType::I8 => Value::I8(self.u8(key)? as i8),
            ValueType::U16 => Value::U16(self.u16(key)?),
            ValueType::I16 => Value::I16(self.u16(key)? as i16),
            ValueType::U32 => Value::U32(self.u32(key)?),
            ValueType::I32 => Value::I32(self.u32(key)? as i32),
            ValueType::F32 => Value::F32(f32::from_bits(self.u32(key)?)),
            ValueType::Bool => {
                let at = self.pos;
                match self.u8(key)? {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    b => {
                        return Err(Error::Malformed(format!(
                            "metadata '{key}': bool at offset {at} is {b}, expected 0 or 1"
                        )))
                    }
                }
            }
            ValueType::String => Value::String(self.string(&format!("string value of '{key}'"))?),
            ValueType::U64 => Value::U64(self.u64(key)?),
            ValueType::I64 => Value::I64(self.u64(key)? as i64),
            ValueType::F64 => Value::F64(f64::from_bits(self.u64(key)?)),
            ValueType::Array => {
                if depth >= self.limits.max_array_depth {
                    return Err(Error::Limit {
                        what: format!("array nesting depth of '{key}'"),
                        value: depth as u64 + 1,
                        limit: self.limits.max_array_depth as u64,
                    });
                }
                let at = self.pos;
                let et_raw = self.u32(key)?;
                let et = ValueType::from_u32(et_raw).ok_or_else(|| {
                    Error::Malformed(format!("metadata '{key}': unknown array element type {et_raw} at offset {at}"))
                })?;
                let n = self.u64(key)?;
                if n > self.limits.max_array {
                    return Err(Error::Limit {
                        what: format!("element count of array '{key}'"),
                        value: n,
                        limit: self.limits.max_array,
                    });
                }
                // Each element takes at least one byte: a count beyond the remaining bytes is
                // a truncated (or hostile) file, caught before allocating.
                let min_elem = match et {
                    ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
                    ValueType::U16 | ValueType::I16 => 2,
                    ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
                    ValueType::Array => 12,
                    ValueType::String | ValueType::U64 | ValueType::I64 | ValueType::F64 => 8,
                };
                let remaining = (self.buf.len() - self.pos) as u64;
                if n.saturating_mul(min_elem) > remaining {
                    return Err(Error::Truncated {
                        what: format!("array '{key}' of {n} elements"),
                        offset: self.pos as u64,
                        needed: n.saturating_mul(min_elem),
                        len: self.buf.len() as u64,
                    });
                }
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.value(et, key, depth + 1)?);
                }
                Value::Array(et, v)
            }
        })
    }
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
            let n_bytes = (n_elements / ggml_type.block_size() as u64)
                .checked_mul(ggml_type.block_bytes() as u64)
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
        let expect = n / ty.block_size() as u64 * ty.block_bytes() as u64;
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
