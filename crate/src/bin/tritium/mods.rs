//! Mixture-of-Depths options of the CLI (`--mod SPEC`, `--mod-span`, `--mod-calib`) and the
//! `--mod` scoring of `perplexity` / `score` (continuation NLL after a pruned prompt vs dense).

use std::path::PathBuf;

use tritium::model::Model;
use tritium::pmod::ModOptions;
use tritium::{Error, Result};

use crate::print_json;

/// `--mod SPEC` with `--mod-span START:END` and `--mod-calib FILE`.
pub fn mod_options(spec: &str, span: Option<&str>, calib: Option<&std::path::Path>) -> Result<ModOptions> {
    let mut o = ModOptions::parse(spec)?;
    if let Some(s) = span {
        let bad =
            || Error::InvalidArgument(format!("--mod-span '{s}': expected START:END (prompt positions, END excluded)"));
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        o.span = Some((a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?));
    }
    if let Some(p) = calib {
        o.calib_text =
            Some(std::fs::read_to_string(p).map_err(|e| Error::Io { path: p.display().to_string(), source: e })?);
    }
    Ok(o)
}

/// `--mod` options of `perplexity` and `score`.
#[derive(clap::Args, Debug)]
pub struct ModArgs {
    /// Mixture-of-Depths (p-MoD) configurations to compare with dense, repeatable (the same SPEC
    /// forms as `generate --mod`). With --mod, windows are --ctx prompt tokens (pruned) followed
    /// by --continuation tokens, and only the continuation is scored.
    #[arg(long = "mod", value_name = "SPEC")]
    pub specs: Vec<String>,
    #[arg(long = "mod-span", value_name = "START:END")]
    pub span: Option<String>,
    #[arg(long = "mod-calib", value_name = "FILE")]
    pub calib: Option<PathBuf>,
    /// Continuation tokens scored after each pruned prompt (with --mod).
    #[arg(long, default_value_t = 64)]
    pub continuation: usize,
    /// Use at most N windows (with --mod).
    #[arg(long)]
    pub max_windows: Option<usize>,
}

/// `perplexity --mod` / `score --mod`: continuation NLL after a pruned prompt vs dense.
pub fn mod_score(m: &Model, ids: &[u32], prompt: usize, a: &ModArgs, per_token: bool, json: bool) -> Result<()> {
    use tritium::pmod::{eval::score_continuations, ModConfig};
    let mut lsq = None;
    let mut configs = Vec::new();
    for spec in &a.specs {
        let o = mod_options(spec, a.span.as_deref(), a.calib.as_deref())?;
        let cfg = ModConfig::new(m, &o, lsq.clone())?;
        if cfg.lsq.is_some() {
            lsq = cfg.lsq.clone(); // fit once, share between configurations
        }
        cfg.span_for(prompt)?;
        configs.push(cfg);
    }
    let mut r = score_continuations(m, ids, prompt, a.continuation, a.max_windows, &configs)?;
    if !per_token {
        r.dense_nll.clear();
        r.mods.iter_mut().for_each(|x| x.nll.clear());
    }
    if json {
        return print_json(&serde_json::to_value(&r).map_err(|e| Error::InvalidArgument(e.to_string()))?);
    }
    println!(
        "{} windows of {} prompt + {} continuation tokens; dense continuation NLL {:.4} (prefill {:.0} ms)",
        r.windows, r.prompt_tokens, r.continuation_tokens, r.dense_mean_nll, r.dense_prefill_ms
    );
    println!(
        "{:<40} {:>7} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8}",
        "mod", "mean R", "ΔNLL", "KV", "KV tgt", "FLOPs", "FL tgt", "time"
    );
    for x in &r.mods {
        println!(
            "{:<40} {:>7.3} {:>+8.4} {:>7.1}% {:>7.1}% {:>8.1}% {:>7.1}% {:>8.3}",
            x.spec,
            x.mean_ratio,
            x.delta_nll,
            100.0 * x.kv_ratio,
            100.0 * x.target_kv_ratio,
            100.0 * x.flops_ratio,
            100.0 * x.target_flops_ratio,
            x.prefill_time_ratio
        );
    }
    Ok(())
}
