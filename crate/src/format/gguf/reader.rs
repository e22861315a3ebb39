//! The bounds-checked little-endian reader of GGUF headers: every length is checked against the
//! remaining bytes and the [`Limits`] before anything is allocated.

use super::{Limits, Value, ValueType};
use crate::error::{Error, Result};

pub(super) struct Reader<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
    pub(super) limits: &'a Limits,
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8]> {
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
    pub(super) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    pub(super) fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap()))
    }
    pub(super) fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    pub(super) fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    pub(super) fn string(&mut self, what: &str) -> Result<String> {
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

    pub(super) fn value(&mut self, t: ValueType, key: &str, depth: u32) -> Result<Value> {
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
