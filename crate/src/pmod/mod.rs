//! Mixture-of-Depths decoding after p-MoD (docs/algorithms.md §3): at prefill, each MoD layer processes only a
//! fraction `R(l)` of the prompt's *target* tokens (a span of it; p-MoD's vision tokens), chosen
//! by a router; the others skip the layer. Each layer's KV cache holds only the tokens it
//! processed, at their original position ids. Decoding runs every new token through every layer
//! (as p-MoD does), attending to each layer's own cache: that is [`forward::forward`] unchanged,
//! since it masks causally over whatever each layer's cache holds.
//!
//! This file is the CPU reference; the GPU engine runs the same prefill with the routers, the
//! top-k and the gather/scatter on the device (`backend::gpu::model::pmod`), and both build their
//! reports with [`account`].

pub mod cpu;
pub mod eval;
pub mod gpu;
pub mod plan;
pub mod report;
pub mod router;
pub mod schedule;
pub mod selftest;

use std::ops::Range;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Model;
pub use cpu::prefill;
pub use plan::{LayerPlan, ModPlan};
pub use report::{
    account, attention_flops, decode_flops, head_flops, linear_flops, LayerRetention, LayerTrace, ModReport,
};
pub use router::{tanh_norm, top_k, LsqRouters, RouterKind, TrainedRouters};
pub use schedule::{kept_count, mean_for_retention, Schedule};

/// Prompt tokens at the end of the prompt kept out of the default target span (they are read
/// first by the continuation, and the DESIGN measurements show the most recent tokens matter most).
pub const DEFAULT_TAIL: usize = 4;

/// The training-free router `auto` picks for models without trained routers: the winner of the
/// quality table in the README (ΔNLL at the default schedule; see pkg-scripts/mod-table).
pub const DEFAULT_TRAINING_FREE: RouterKind = RouterKind::Snap(SNAP_WINDOW);

/// Calibration tokens the lsq router is fitted on, in windows of [`LSQ_WINDOW`].
pub const LSQ_CALIB_TOKENS: usize = 2048;
pub const LSQ_WINDOW: usize = 512;

/// Queries (the last ones of the prompt) whose attention the `snap` router sums.
pub const SNAP_WINDOW: usize = 32;

/// Seed of the random router.
pub const RANDOM_SEED: u64 = 0x5eed;

/// MoD options as the JS API and `GenerateOptions` spell them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ModOptions {
    /// shiftedcos | shiftedlinear | deep_all | deep_all_include_last | interleave | dense
    pub schedule: String,
    pub max: f64,
    pub min: f64,
    /// The decays' `r̄` (mod_router_factor); the fixed modes' ratio.
    pub mean: f64,
    /// auto | trained | attn | lsq | random
    pub router: String,
    /// Target tokens: prompt positions `[start, end)`. Default: the prompt minus its first token
    /// and its last [`DEFAULT_TAIL`] tokens.
    pub span: Option<(usize, usize)>,
    /// Calibration text for the lsq router.
    pub calib_text: Option<String>,
}

impl Default for ModOptions {
    fn default() -> Self {
        ModOptions {
            schedule: "shiftedcos".into(),
            max: schedule::DEFAULT_MAX,
            min: schedule::DEFAULT_MIN,
            mean: schedule::DEFAULT_MEAN,
            router: "auto".into(),
            span: None,
            calib_text: None,
        }
    }
}

impl ModOptions {
    /// Parse the CLI form: `shiftedcos:MAX:MIN:MEAN[:ROUTER]`, `shiftedlinear:…` (or, for the
    /// defaults 0.85, 0.15, 0.5, `shiftedcos` / `shiftedcos:ROUTER`), `deep_all:R[:ROUTER]`,
    /// `deep_all_include_last:R[:ROUTER]`, `interleave:R[:ROUTER]`, `dense`.
    pub fn parse(spec: &str) -> Result<ModOptions> {
        let bad = |m: &str| {
            Err(Error::InvalidArgument(format!(
                "--mod '{spec}': {m}; expected shiftedcos:MAX:MIN:MEAN[:ROUTER], shiftedlinear:MAX:MIN:MEAN[:ROUTER], \
                 deep_all:R[:ROUTER], deep_all_include_last:R[:ROUTER], interleave:R[:ROUTER] or dense"
            )))
        };
        let parts: Vec<&str> = spec.trim().split(':').collect();
        let mut o = ModOptions { schedule: parts[0].to_string(), ..Default::default() };
        let num = |s: &str, what: &str| -> Result<f64> {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| Error::InvalidArgument(format!("--mod '{spec}': {what} '{s}' is not a number")))
        };
        let rest: &[&str] = match parts[0] {
            "shiftedcos" | "shiftedlinear" => match parts.len() {
                1 => &[],
                4 | 5 => {
                    o.max = num(parts[1], "max")?;
                    o.min = num(parts[2], "min")?;
                    o.mean = num(parts[3], "mean")?;
                    &parts[4..]
                }
                2 if parts[1].trim().parse::<f64>().is_err() => &parts[1..],
                _ => return bad("a decay schedule takes MAX:MIN:MEAN (all three, or none for the defaults)"),
            },
            "deep_all" | "deep_all_include_last" | "interleave" => match parts.len() {
                2 | 3 => {
                    o.mean = num(parts[1], "ratio")?;
                    &parts[2..]
                }
                _ => return bad("a fixed-ratio schedule takes one ratio"),
            },
            "dense" => match parts.len() {
                1 => &[],
                _ => return bad("dense takes no numbers"),
            },
            "" => return bad("empty schedule"),
            other => return bad(&format!("unknown schedule '{other}'")),
        };
        if let Some(r) = rest.first() {
            RouterKind::parse(r)?;
            o.router = r.to_string();
        }
        o.schedule()?;
        Ok(o)
    }

    pub fn schedule(&self) -> Result<Schedule> {
        Schedule::from_parts(&self.schedule, self.max, self.min, self.mean)
    }

    /// The spec string (CLI form) of these options.
    pub fn spec(&self) -> String {
        match self.schedule.as_str() {
            "dense" => "dense".into(),
            "shiftedcos" | "shiftedlinear" => {
                format!("{}:{}:{}:{}:{}", self.schedule, self.max, self.min, self.mean, self.router)
            }
            s => format!("{s}:{}:{}", self.mean, self.router),
        }
    }
}

/// MoD options resolved against a model: the schedule, the router (never `Auto`) with its
/// parameters (trained tensors, or the lsq fit), and the target span.
#[derive(Clone, Debug)]
pub struct ModConfig {
    pub schedule: Schedule,
    pub router: RouterKind,
    pub span: Option<(usize, usize)>,
    pub spec: String,
    /// Per layer: `Some(R(l))` for a MoD layer.
    pub ratios: Vec<Option<f64>>,
    pub trained: Option<Arc<TrainedRouters>>,
    pub lsq: Option<Arc<LsqRouters>>,
}

impl ModConfig {
    /// Resolve `opts` for `model`. `lsq`: an lsq fit to reuse (else it is fitted from
    /// `opts.calib_text` when the router needs it).
    pub fn new(model: &Model, opts: &ModOptions, lsq: Option<Arc<LsqRouters>>) -> Result<ModConfig> {
        let schedule = opts.schedule()?;
        let ratios = schedule.ratios(model.config.n_layers);
        let mut router = RouterKind::parse(&opts.router)?;
        if router == RouterKind::Auto {
            router = if TrainedRouters::present(model) { RouterKind::Trained } else { DEFAULT_TRAINING_FREE };
        }
        let mut cfg = ModConfig {
            schedule,
            router,
            span: opts.span,
            spec: ModOptions { router: router.label(), ..opts.clone() }.spec(),
            ratios,
            trained: None,
            lsq: None,
        };
        match router {
            RouterKind::Trained => {
                let t = TrainedRouters::load(model)?;
                for (l, r) in cfg.ratios.iter().enumerate() {
                    if r.is_some() && t.layers[l].is_none() {
                        return Err(Error::InvalidArgument(format!(
                            "the trained router is missing for MoD layer {l} of schedule {}: the model has no tensor '{}'",
                            cfg.spec,
                            router::router_tensor_names(l).0
                        )));
                    }
                }
                cfg.trained = Some(Arc::new(t));
            }
            RouterKind::Lsq => {
                cfg.lsq = Some(match lsq {
                    Some(f) => f,
                    None => {
                        let text = opts.calib_text.as_deref().ok_or_else(|| {
                            Error::InvalidArgument(
                                "the lsq MoD router needs calibration text (CLI: --mod-calib FILE, e.g. \
                                 models/corpus/calib.txt; JS: mod.calibText)"
                                    .into(),
                            )
                        })?;
                        Arc::new(fit_lsq(model, text)?)
                    }
                });
            }
            _ => {}
        }
        Ok(cfg)
    }

    /// The target span of an `n`-token prompt.
    pub fn span_for(&self, n: usize) -> Result<Range<usize>> {
        match self.span {
            Some((a, b)) => {
                if a > b || b > n {
                    return Err(Error::InvalidArgument(format!(
                        "MoD span [{a}, {b}) is outside the prompt of {n} tokens (need start ≤ end ≤ {n})"
                    )));
                }
                Ok(a..b)
            }
            None => Ok(if n > 1 + DEFAULT_TAIL { 1..n - DEFAULT_TAIL } else { 1..1 }),
        }
    }
}

/// Fit the lsq router on the first [`LSQ_CALIB_TOKENS`] tokens of `text`.
pub fn fit_lsq(model: &Model, text: &str) -> Result<LsqRouters> {
    let mut ids = model.tokenizer().encode(text, false)?;
    ids.truncate(LSQ_CALIB_TOKENS);
    LsqRouters::fit(model, &ids, LSQ_WINDOW)
}
