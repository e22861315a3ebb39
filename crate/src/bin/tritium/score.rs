//! `tritium perplexity` and `tritium score`: teacher-forced negative log-likelihoods of a text
//! (dense, or against Mixture-of-Depths configurations with --mod).

use std::path::PathBuf;

use serde_json::json;
use tritium::eval;
use tritium::{Error, Result};

use crate::mods::{mod_score, ModArgs};
use crate::{load, print_json};

pub fn perplexity(
    model: PathBuf,
    text_file: PathBuf,
    ctx: usize,
    max_tokens: Option<usize>,
    i8_activations: bool,
    mods: ModArgs,
    json: bool,
) -> Result<()> {
    let mut m = load(&model)?;
    m.i8_activations = i8_activations;
    let text = std::fs::read_to_string(&text_file)
        .map_err(|e| Error::Io { path: text_file.display().to_string(), source: e })?;
    let mut ids = m.tokenizer().encode(&text, true)?;
    if let Some(n) = max_tokens {
        ids.truncate(n);
    }
    if !mods.specs.is_empty() {
        return mod_score(&m, &ids, ctx, &mods, false, json);
    }
    let r = eval::score_ids(&m, &ids, Some(ctx))?;
    if json {
        print_json(&json!({
            "mean_nll": r.mean_nll,
            "perplexity": r.perplexity,
            "tokens": r.tokens,
            "ctx": r.ctx,
            "windows": r.windows,
            "tokens_per_s": r.tokens_per_s,
            "i8_activations": i8_activations,
            "model": model.display().to_string(),
        }))
    } else {
        println!(
            "mean_nll {:.4}  perplexity {:.3}  tokens {}  (ctx {}, {} windows, {:.1} tok/s)",
            r.mean_nll, r.perplexity, r.tokens, r.ctx, r.windows, r.tokens_per_s
        );
        Ok(())
    }
}

pub fn score(model: PathBuf, text_file: PathBuf, ctx: Option<usize>, mods: ModArgs, json: bool) -> Result<()> {
    let m = load(&model)?;
    let text = std::fs::read_to_string(&text_file)
        .map_err(|e| Error::Io { path: text_file.display().to_string(), source: e })?;
    if !mods.specs.is_empty() {
        let ids = m.tokenizer().encode(&text, true)?;
        return mod_score(&m, &ids, ctx.unwrap_or(512), &mods, true, json);
    }
    let r = eval::score_text(&m, &text, ctx)?;
    if json {
        print_json(&serde_json::to_value(&r).map_err(|e| Error::InvalidArgument(e.to_string()))?)
    } else {
        println!(
            "tokens {}  scored {}  mean_nll {:.4}  perplexity {:.3}  ({:.1} tok/s)",
            r.token_ids.len(),
            r.nll.len(),
            r.mean_nll,
            r.perplexity,
            r.tokens_per_s
        );
        Ok(())
    }
}
