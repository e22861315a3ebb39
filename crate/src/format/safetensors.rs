//! safetensors reader and writer (the HF / AutoAWQ checkpoint container).
//!
//! Layout: u64 LE header length `n`, `n` bytes of UTF-8 JSON (an object: tensor name →
//! `{"dtype", "shape", "data_offsets": [begin, end]}`, plus an optional `"__metadata__"` map of
//! strings), then the data buffer; offsets are relative to the start of the data buffer.
//!
//! [`SafeTensors::parse`] reads the header only; tensors are views (`&bytes[range]`) into the
//! caller's buffer. Before anything is trusted: the header is at most [`MAX_HEADER`] bytes, every
//! size is computed with overflow checks, each tensor's byte length equals
//! product(shape) · dtype size, offsets lie inside the buffer, and no two tensors overlap. Every
//! error names the file (and the tensor) and what was expected.

use std::collections::BTreeMap;
use std::ops::Range;

use half::{bf16, f16};

use crate::error::{Error, Result};
use crate::format::limits::Limits;

/// Largest JSON header accepted (the limit of the reference implementation).
pub const MAX_HEADER: u64 = Limits::DEFAULT.max_safetensors_header;
/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = Limits::DEFAULT.max_safetensors_dims;

/// Element types of the safetensors format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

impl Dtype {
    pub const ALL: [Dtype; 15] = [
        Dtype::Bool,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8E5M2,
        Dtype::F8E4M3,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::F64,
        Dtype::I64,
        Dtype::U64,
    ];

    /// The name used in headers ("F16", "BF16", "I32", ...).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "BOOL",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8E5M2 => "F8_E5M2",
            Dtype::F8E4M3 => "F8_E4M3",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
        }
    }

    pub fn from_name(s: &str) -> Option<Dtype> {
        Dtype::ALL.iter().copied().find(|d| d.name() == s)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::Bool | Dtype::U8 | Dtype::I8 | Dtype::F8E5M2 | Dtype::F8E4M3 => 1,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One entry of the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: Dtype,
    /// Row-major shape, outermost first (as numpy / torch).
    pub shape: Vec<u64>,
    /// Absolute byte range in the file.
    pub range: Range<usize>,
}

/// A parsed safetensors header over the caller's bytes.
#[derive(Clone, Debug)]
pub struct SafeTensors<'a> {
    /// The file's name, used in error messages.
    pub file: String,
    bytes: &'a [u8],
    /// Tensors in data order.
    pub tensors: Vec<TensorEntry>,
    /// `__metadata__` (string → string).
    pub metadata: BTreeMap<String, String>,
    /// Absolute offset of the data buffer.
    pub data_offset: usize,
    index: BTreeMap<String, usize>,
}

/// A tensor's header entry and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    pub file: &'a str,
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: &'a [u64],
    pub data: &'a [u8],
}

fn malformed(file: &str, message: String) -> Error {
    Error::MalformedFile { file: file.to_string(), message }
}

impl<'a> SafeTensors<'a> {
    /// Parse the header of `bytes` (the whole file); `file` names it in errors.
    pub fn parse(file: &str, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
        let len = bytes.len() as u64;
        if bytes.len() < 8 {
            return Err(Error::Truncated {
                what: format!("{file}: safetensors header length (u64)"),
                offset: 0,
                needed: 8,
                len,
            });
        }
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        if n > MAX_HEADER {
            return Err(Error::Limit {
                what: format!("{file}: safetensors JSON header length"),
                value: n,
                limit: MAX_HEADER,
            });
        }
        if n > len - 8 {
            return Err(Error::Truncated {
                what: format!("{file}: safetensors JSON header"),
                offset: 8,
                needed: n,
                len,
            });
        }
        let data_offset = 8 + n as usize;
        let header = &bytes[8..data_offset];
        if header.first() != Some(&b'{') {
            return Err(malformed(file, "the JSON header does not start with '{'".into()));
        }
        let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header)
            .map_err(|e| malformed(file, format!("the JSON header does not parse: {e}")))?;
        let data_len = bytes.len() - data_offset;

        let mut metadata = BTreeMap::new();
        let mut tensors = Vec::with_capacity(json.len());
        for (name, v) in &json {
            if name == "__metadata__" {
                let m =
                    v.as_object().ok_or_else(|| malformed(file, "__metadata__ is not an object of strings".into()))?;
                for (k, val) in m {
                    let s = val
                        .as_str()
                        .ok_or_else(|| malformed(file, format!("__metadata__[\"{k}\"] is {val}, expected a string")))?;
                    metadata.insert(k.clone(), s.to_string());
                }
                continue;
            }
            tensors.push(parse_entry(file, name, v, data_offset, data_len)?);
        }
        tensors.sort_by_key(|t| (t.range.start, t.range.end));
        for w in tensors.windows(2) {
            if w[1].range.start < w[0].range.end {
                return Err(malformed(
                    file,
                    format!(
                        "tensors '{}' (bytes {:?}) and '{}' (bytes {:?}) overlap",
                        w[0].name,
                        rel(&w[0].range, data_offset),
                        w[1].name,
                        rel(&w[1].range, data_offset)
                    ),
                ));
            }
        }
        let index = tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        Ok(SafeTensors { file: file.to_string(), bytes, tensors, metadata, data_offset, index })
    }

    pub fn entry(&self, name: &str) -> Option<&TensorEntry> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        self.entry(name).map(|t| TensorView {
            file: &self.file,
            name: &t.name,
            dtype: t.dtype,
            shape: &t.shape,
            data: &self.bytes[t.range.clone()],
        })
    }

    pub fn require(&self, name: &str) -> Result<TensorView<'_>> {
        self.tensor(name).ok_or_else(|| Error::MissingTensor { tensor: format!("{name} (not in {})", self.file) })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(|t| t.name.as_str())
    }
}

fn rel(r: &Range<usize>, base: usize) -> Range<usize> {
    r.start - base..r.end - base
}

fn parse_entry(
    file: &str,
    name: &str,
    v: &serde_json::Value,
    data_offset: usize,
    data_len: usize,
) -> Result<TensorEntry> {
    let bad = |message: String| Error::BadTensor { tensor: name.to_string(), message: format!("in {file}: {message}") };
    let obj = v.as_object().ok_or_else(|| bad(format!("header entry is {v}, expected an object")))?;
    let dtype_s =
        obj.get("dtype").and_then(|d| d.as_str()).ok_or_else(|| bad("header entry has no \"dtype\" string".into()))?;
    let dtype = Dtype::from_name(dtype_s).ok_or_else(|| {
        let known: Vec<&str> = Dtype::ALL.iter().map(|d| d.name()).collect();
        bad(format!("unknown dtype \"{dtype_s}\" (known: {})", known.join(", ")))
    })?;
    let shape_v =
        obj.get("shape").and_then(|s| s.as_array()).ok_or_else(|| bad("header entry has no \"shape\" array".into()))?;
    if shape_v.len() > MAX_DIMS {
        return Err(bad(format!("{} dimensions; at most {MAX_DIMS} are accepted", shape_v.len())));
    }
    let shape = shape_v
        .iter()
        .map(|d| d.as_u64().ok_or_else(|| bad(format!("shape entry {d} is not a non-negative integer"))))
        .collect::<Result<Vec<u64>>>()?;
    let offs = obj
        .get("data_offsets")
        .and_then(|o| o.as_array())
        .filter(|o| o.len() == 2)
        .ok_or_else(|| bad("header entry has no \"data_offsets\" [begin, end] pair".into()))?;
    let begin = offs[0].as_u64().ok_or_else(|| bad(format!("data_offsets begin {} is not an integer", offs[0])))?;
    let end = offs[1].as_u64().ok_or_else(|| bad(format!("data_offsets end {} is not an integer", offs[1])))?;
    let overflow = || Error::Overflow { what: format!("{file}: size of tensor '{name}' with shape {shape:?}") };
    let n_el = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).ok_or_else(overflow)?;
    let n_bytes = n_el.checked_mul(dtype.size() as u64).ok_or_else(overflow)?;
    if end < begin {
        return Err(bad(format!("data_offsets [{begin}, {end}] end before they begin")));
    }
    if end - begin != n_bytes {
        return Err(bad(format!(
            "data_offsets [{begin}, {end}] hold {} bytes, but shape {shape:?} of {dtype} needs {n_bytes}",
            end - begin
        )));
    }
    if end > data_len as u64 {
        return Err(Error::OutOfBounds {
            tensor: format!("{name} (in {file})"),
            start: begin + data_offset as u64,
            end: end + data_offset as u64,
            len: (data_offset + data_len) as u64,
        });
    }
    let range = data_offset + begin as usize..data_offset + end as usize;
    Ok(TensorEntry { name: name.to_string(), dtype, shape, range })
}

impl<'a> TensorView<'a> {
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product::<u64>() as usize
    }

    /// "NAME (in FILE)", for messages.
    pub fn describe(&self) -> String {
        format!("{} (in {})", self.name, self.file)
    }

    fn bad(&self, message: String) -> Error {
        Error::BadTensor { tensor: self.name.to_string(), message: format!("in {}: {message}", self.file) }
    }

    /// Error unless the dtype is one of `want` (`why` says what the tensor is for).
    pub fn expect_dtype(&self, want: &[Dtype], why: &str) -> Result<()> {
        if want.contains(&self.dtype) {
            return Ok(());
        }
        let w: Vec<&str> = want.iter().map(|d| d.name()).collect();
        Err(self.bad(format!("dtype {}, expected {}{why}", self.dtype, w.join(" or "))))
    }

    /// Error unless the shape is exactly `want` (`why` explains the expectation).
    pub fn expect_shape(&self, want: &[u64], why: &str) -> Result<()> {
        if self.shape == want {
            return Ok(());
        }
        Err(self.bad(format!("shape {:?}, expected {want:?}{why}", self.shape)))
    }

    /// Elements as f32 (F16, BF16, F32, F64).
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        let d = self.data;
        Ok(match self.dtype {
            Dtype::F32 => d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F16 => d.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::BF16 => d.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::F64 => d.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
            t => return Err(self.bad(format!("dtype {t} is not a float type (F16, BF16, F32 or F64 expected)"))),
        })
    }

    /// Elements of an F16 tensor.
    pub fn to_f16(&self) -> Result<Vec<f16>> {
        self.expect_dtype(&[Dtype::F16], "")?;
        Ok(self.data.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect())
    }

    /// 32-bit words of an I32 / U32 tensor (i32 reinterpreted as u32).
    pub fn to_u32(&self) -> Result<Vec<u32>> {
        self.expect_dtype(&[Dtype::I32, Dtype::U32], "")?;
        Ok(self.data.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
}

/// Builds a safetensors file in memory.
#[derive(Default)]
pub struct SafetensorsWriter {
    tensors: Vec<(String, Dtype, Vec<u64>, Vec<u8>)>,
    names: std::collections::BTreeSet<String>,
    metadata: BTreeMap<String, String>,
}

impl SafetensorsWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_metadata(&mut self, key: &str, value: &str) {
        self.metadata.insert(key.to_string(), value.to_string());
    }

    /// Add a tensor: row-major `shape`, `data` little-endian of `dtype`.
    pub fn add(&mut self, name: &str, dtype: Dtype, shape: &[u64], data: Vec<u8>) -> Result<()> {
        if name == "__metadata__" || name.is_empty() {
            return Err(Error::InvalidArgument(format!("safetensors: '{name}' cannot be a tensor name")));
        }
        if !self.names.insert(name.to_string()) {
            return Err(Error::InvalidArgument(format!("safetensors: tensor '{name}' added twice")));
        }
        let n = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).and_then(|n| n.checked_mul(dtype.size() as u64));
        if n != Some(data.len() as u64) {
            return Err(Error::BadTensor {
                tensor: name.to_string(),
                message: format!("{} bytes given, shape {shape:?} of {dtype} needs {n:?}", data.len()),
            });
        }
        self.tensors.push((name.to_string(), dtype, shape.to_vec(), data));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Bytes of tensor data added so far.
    pub fn data_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.3.len() as u64).sum()
    }

    /// The file. Data is laid out by decreasing element size (then in the order added), so every
    /// tensor starts at a multiple of its element size; the header is padded with spaces to a
    /// multiple of 8 bytes, as the reference writer does.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut order: Vec<usize> = (0..self.tensors.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.tensors[i].1.size()));
        let mut header = serde_json::Map::new();
        if !self.metadata.is_empty() {
            let m: serde_json::Map<String, serde_json::Value> =
                self.metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
            header.insert("__metadata__".into(), serde_json::Value::Object(m));
        }
        let mut off = 0u64;
        for &i in &order {
            let (name, dtype, shape, data) = &self.tensors[i];
            let end = off + data.len() as u64;
            header.insert(
                name.clone(),
                serde_json::json!({ "dtype": dtype.name(), "shape": shape, "data_offsets": [off, end] }),
            );
            off = end;
        }
        let mut h = serde_json::to_vec(&serde_json::Value::Object(header)).expect("JSON of strings and integers");
        while h.len() % 8 != 0 {
            h.push(b' ');
        }
        let mut out = Vec::with_capacity(8 + h.len() + off as usize);
        out.extend_from_slice(&(h.len() as u64).to_le_bytes());
        out.extend_from_slice(&h);
        for &i in &order {
            out.extend_from_slice(&self.tensors[i].3);
        }
        out
    }
}

/// Little-endian bytes of f32 values as `dtype` (F16, BF16 or F32).
pub fn encode_floats(dtype: Dtype, v: &[f32]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(v.len() * dtype.size());
    match dtype {
        Dtype::F32 => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Dtype::F16 => v.iter().for_each(|x| out.extend_from_slice(&f16::from_f32(*x).to_le_bytes())),
        Dtype::BF16 => v.iter().for_each(|x| out.extend_from_slice(&bf16::from_f32(*x).to_le_bytes())),
        t => return Err(Error::InvalidArgument(format!("encode_floats: {t} is not F16, BF16 or F32"))),
    }
    Ok(out)
}

/// Little-endian bytes of 32-bit words (an I32 tensor's data).
pub fn encode_words(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|w| w.to_le_bytes()).collect()
}
