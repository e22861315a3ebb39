//! One Mixture-of-Depths plan, consumed by both backends' prefills ([`super::cpu`],
//! [`super::gpu`]): the checks, the target span, each layer's kept counts and router window,
//! the random router's scores in the order they are drawn, the check of what a backend kept, and
//! the report. Only the router scoring and the gather/scatter of kept tokens are
//! backend-specific.

use std::ops::Range;

use super::report::account;
use super::{kept_count, ModConfig, ModReport, RouterKind, RANDOM_SEED};
use crate::error::{Error, Result};
use crate::model::sampler::SplitMix64;
use crate::model::{check_step, LlamaConfig};

/// What one layer does in a MoD prefill.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerPlan {
    /// `Some(R(l))` on a MoD layer.
    pub ratio: Option<f64>,
    /// Target tokens kept (all of them on a dense layer).
    pub kept_targets: usize,
    /// Prompt tokens the layer processes: the kept targets and every non-target token.
    pub kept: usize,
    /// Under an attention-received router: the queries (the last ones of the processed tokens)
    /// whose attention scores the next layer's tokens.
    pub window: Option<Range<usize>>,
    /// The random router's scores of the target tokens (drawn in layer order from one seeded
    /// generator).
    pub random: Option<Vec<f32>>,
}

impl LayerPlan {
    /// Whether the FFN residual is STRing-weighted by the trained router's w̃ on this layer.
    pub fn string_weighted(&self, cfg: &ModConfig) -> bool {
        self.ratio.is_some() && cfg.router == RouterKind::Trained
    }
}

/// A MoD prefill of `n` prompt tokens at positions `start..`.
#[derive(Clone, Debug)]
pub struct ModPlan {
    pub n: usize,
    pub start: usize,
    pub span: Range<usize>,
    pub layers: Vec<LayerPlan>,
}

impl ModPlan {
    /// Plan the prefill of `tokens` after `start` positions, for a backend whose sequences hold
    /// at most `max_positions`. Checks the tokens, the room, the config's layer count and span.
    pub fn new(
        c: &LlamaConfig,
        cfg: &ModConfig,
        tokens: &[u32],
        start: usize,
        max_positions: usize,
    ) -> Result<ModPlan> {
        let n = tokens.len();
        check_step(c, tokens, start, max_positions)?;
        if cfg.ratios.len() != c.n_layers {
            return Err(Error::InvalidArgument(format!(
                "MoD config is for {} layers, the model has {}",
                cfg.ratios.len(),
                c.n_layers
            )));
        }
        // A pruned layer's cache holds only the kept tokens, so its entries are not positions:
        // a window over positions cannot be applied to it.
        if c.sliding_window > 0 && cfg.ratios.iter().any(|r| r.is_some()) {
            return Err(Error::UnsupportedModel(format!(
                "Mixture-of-Depths pruning with sliding-window attention ({} has a window of {}); run it dense",
                c.architecture, c.sliding_window
            )));
        }
        let span = cfg.span_for(n)?;
        let nt = span.len();
        let mut rng = SplitMix64::new(RANDOM_SEED);
        let layers = cfg
            .ratios
            .iter()
            .map(|&ratio| {
                let kept_targets = ratio.map_or(nt, |r| kept_count(nt, r));
                let kept = kept_targets + n - nt;
                let window = match cfg.router {
                    RouterKind::Snap(w) => Some(kept.saturating_sub(w)..kept),
                    RouterKind::Attn => Some(0..kept),
                    _ => None,
                };
                let random = (ratio.is_some() && matches!(cfg.router, RouterKind::Random | RouterKind::Auto))
                    .then(|| (0..nt).map(|_| rng.next_f64() as f32).collect());
                LayerPlan { ratio, kept_targets, kept, window, random }
            })
            .collect();
        Ok(ModPlan { n, start, span, layers })
    }

    /// Check what a backend kept on layer `l` (prompt indices, increasing) against the plan.
    pub fn check_kept(&self, l: usize, kept: &[usize]) -> Result<()> {
        let want = self.layers[l].kept;
        if kept.len() != want {
            return Err(Error::InvalidArgument(format!(
                "MoD prefill: layer {l} kept {} tokens, the schedule asks for {want} (a kernel failed)",
                kept.len()
            )));
        }
        if kept.windows(2).any(|w| w[0] >= w[1]) || kept.last().is_some_and(|&i| i >= self.n) {
            return Err(Error::InvalidArgument(format!(
                "MoD prefill: layer {l}'s kept indices are not increasing prompt positions"
            )));
        }
        Ok(())
    }

    /// The report from the kept sets and the entries each layer's cache held before.
    pub fn report(
        &self,
        c: &LlamaConfig,
        cfg: &ModConfig,
        kept: &[Vec<usize>],
        before: &[usize],
        prefill_ms: f64,
    ) -> Result<ModReport> {
        for (l, k) in kept.iter().enumerate() {
            self.check_kept(l, k)?;
        }
        Ok(account(c, cfg, self.n, self.start, self.span.clone(), kept, before, prefill_ms))
    }
}
