//! Architectures: each file builds the layer graph ([`crate::model::graph`]) of one family from
//! its config. Both backends run what these return.

pub mod llama;

use crate::error::{Error, Result};
use crate::model::config::LLAMA_FAMILY;
use crate::model::graph::LayerGraph;
use crate::model::LlamaConfig;

/// The layer graph of the config's architecture (`general.architecture`).
pub fn layer_graph(c: &LlamaConfig) -> Result<LayerGraph> {
    if LLAMA_FAMILY.contains(&c.architecture.as_str()) {
        llama::layer_graph(c)
    } else {
        Err(Error::UnsupportedModel(format!(
            "architecture '{}' has no layer graph (supported: {})",
            c.architecture,
            LLAMA_FAMILY.join(", ")
        )))
    }
}
