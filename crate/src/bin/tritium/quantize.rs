//! `tritium quantize`: a model to RTN / AWQ int4, ternary, trit planes, ggml formats or a mixed
//! recipe, written as GGUF or as an AutoAWQ folder.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use tritium::model::Model;
use tritium::{Error, Result};

use crate::{load, print_json};

#[allow(clippy::too_many_arguments)]
pub fn run(
    path: &std::path::Path,
    method: &str,
    calib: Option<PathBuf>,
    calib_tokens: usize,
    calib_block: usize,
    group: Option<usize>,
    out: &std::path::Path,
    json: bool,
) -> Result<()> {
    use tritium::convert::recipe::{quantize_model, QuantizeOptions, Recipe};
    let t0 = std::time::Instant::now();
    let m = Arc::new(load(path)?);
    let mut recipe = Recipe::parse(method)?;
    recipe.group = group;
    let mut opts = QuantizeOptions { calib_block, ..Default::default() };
    if recipe.needs_calibration() {
        let calib = calib.ok_or_else(|| {
            Error::InvalidArgument(
                "awq4 needs calibration text: --calib FILE (npm run fetch-corpus writes models/corpus/calib.txt)"
                    .into(),
            )
        })?;
        let text =
            std::fs::read_to_string(&calib).map_err(|e| Error::Io { path: calib.display().to_string(), source: e })?;
        let mut ids = m.tokenizer().encode(&text, false)?;
        ids.truncate(calib_tokens);
        opts.calib = ids;
    }
    let quiet = json;
    let bytes = quantize_model(m.clone(), &recipe, &opts, &mut |done, total, what| {
        if !quiet {
            eprint!("\r[{done}/{total}] {what:<40}");
        }
    })?;
    if !quiet {
        eprintln!();
    }
    let is_gguf = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    // A model read from an AutoAWQ folder carries its tokenizer.json, not GGUF tokenizer metadata.
    let folder_tokenizer = m.gguf.get("tokenizer.ggml.model").is_none();
    if is_gguf && folder_tokenizer {
        return Err(Error::InvalidArgument(format!(
            "{} has no GGUF tokenizer metadata (it was read from a safetensors folder with tokenizer.json): \
             write an AutoAWQ folder instead (-o DIR)",
            path.display()
        )));
    }
    let q = Model::from_gguf_bytes_with(bytes, folder_tokenizer.then(|| m.tokenizer().clone()))?;
    let info = q.info();
    let written: u64 = if is_gguf {
        std::fs::write(out, q.bytes()).map_err(|e| Error::Io { path: out.display().to_string(), source: e })?;
        q.bytes().len() as u64
    } else {
        let files = tritium::model::awq_folder::model_to_awq_folder(&q, None)?;
        tritium::format::awq::write_folder(out, &files)?;
        files.iter().map(|(_, b)| b.len() as u64).sum()
    };
    let secs = t0.elapsed().as_secs_f64();
    if json {
        print_json(&json!({
            "output": out.display().to_string(),
            "format": if is_gguf { "gguf" } else { "autoawq" },
            "recipe": recipe.to_spec(),
            "group_size": tritium::convert::recipe::pick_group(&m, &recipe)?,
            "bytes": written,
            "weight_bytes": info.weight_bytes,
            "bits_per_weight": info.bits_per_weight,
            "tensor_types": info.tensor_types,
            "calibration_tokens": opts.calib.len(),
            "seconds": secs,
        }))
    } else {
        println!(
            "wrote {} ({} bytes, {:.3} bits per weight, {:?}) in {:.1} s",
            out.display(),
            written,
            info.bits_per_weight,
            info.tensor_types,
            secs
        );
        Ok(())
    }
}
