//! One error type for the whole core. Every variant has a stable `code()` that the JS boundary
//! exposes as `err.code` and the CLI prints, and a message that names what is wrong (file,
//! tensor, offset, limit).

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// The input ended before a structure it promised.
    #[error("truncated file: {what} needs {needed} bytes at offset {offset}, but the file has {len} bytes")]
    Truncated { what: String, offset: u64, needed: u64, len: u64 },

    #[error("bad magic: expected \"GGUF\" (47 47 55 46) at offset 0, found {found:02x?}; this is not a GGUF file")]
    BadMagic { found: [u8; 4] },

    #[error("unsupported GGUF version {version}: tritium reads versions 2 and 3")]
    UnsupportedVersion { version: u32 },

    /// A count, size or length in the file exceeds a limit checked before allocating.
    #[error("limit exceeded: {what} is {value}, the limit is {limit}")]
    Limit { what: String, value: u64, limit: u64 },

    /// A tensor's data would lie (partly) outside the file.
    #[error("tensor '{tensor}': data [{start}, {end}) is out of bounds of the {len}-byte file")]
    OutOfBounds { tensor: String, start: u64, end: u64, len: u64 },

    /// Arithmetic on sizes from the file overflowed.
    #[error("size overflow: {what}")]
    Overflow { what: String },

    #[error("tensor '{tensor}' has type {type_id} ({type_name}), which tritium does not support; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0")]
    UnsupportedTensorType { tensor: String, type_id: u32, type_name: String },

    #[error("malformed GGUF: {0}")]
    Malformed(String),

    /// A file other than GGUF (safetensors, config.json, an index) that does not parse.
    #[error("malformed {file}: {message}")]
    MalformedFile { file: String, message: String },

    #[error("missing metadata key '{key}'")]
    MissingKey { key: String },

    #[error("metadata key '{key}' has the wrong type: expected {expected}, found {found}")]
    WrongKeyType { key: String, expected: String, found: String },

    #[error("missing tensor '{tensor}'")]
    MissingTensor { tensor: String },

    #[error("tensor '{tensor}': {message}")]
    BadTensor { tensor: String, message: String },

    #[error("unsupported model: {0}")]
    UnsupportedModel(String),

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("chat template: {0}")]
    Template(String),

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A WebGPU failure: no adapter, device lost, out of memory, validation.
    #[error("{message}")]
    Gpu { code: &'static str, message: String },

    #[error("I/O error on {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl Error {
    /// A stable machine-readable code (used as `err.code` in JS and by tests).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Truncated { .. } => "E_TRUNCATED",
            Error::BadMagic { .. } => "E_BAD_MAGIC",
            Error::UnsupportedVersion { .. } => "E_UNSUPPORTED_VERSION",
            Error::Limit { .. } => "E_LIMIT",
            Error::OutOfBounds { .. } => "E_OUT_OF_BOUNDS",
            Error::Overflow { .. } => "E_OVERFLOW",
            Error::UnsupportedTensorType { .. } => "E_UNSUPPORTED_TENSOR_TYPE",
            Error::Malformed(_) => "E_MALFORMED",
            Error::MalformedFile { .. } => "E_MALFORMED",
            Error::MissingKey { .. } => "E_MISSING_KEY",
            Error::WrongKeyType { .. } => "E_WRONG_KEY_TYPE",
            Error::MissingTensor { .. } => "E_MISSING_TENSOR",
            Error::BadTensor { .. } => "E_BAD_TENSOR",
            Error::UnsupportedModel(_) => "E_UNSUPPORTED_MODEL",
            Error::Tokenizer(_) => "E_TOKENIZER",
            Error::Template(_) => "E_TEMPLATE",
            Error::InvalidArgument(_) => "E_INVALID_ARGUMENT",
            Error::Gpu { code, .. } => code,
            Error::Io { .. } => "E_IO",
        }
    }
}
