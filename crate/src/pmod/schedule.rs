//! Which layers route tokens (MoD layers) and what fraction of the target tokens each keeps:
//! p-MoD's progressive ratio decay (PRD) and the older fixed-ratio modes (docs/algorithms.md §3.2).
//!
//! The reference hard-codes `π·l/31` for 32-layer Vicuna; here the 31 is `L − 1`, so the curve
//! spans the model's depth whatever `L` is (for `L = 32` the values are the reference's exactly).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// p-MoD's defaults: `shiftedcos_decay_0.85_0.15` with `mod_router_factor = 0.5`.
pub const DEFAULT_MAX: f64 = 0.85;
pub const DEFAULT_MIN: f64 = 0.15;
pub const DEFAULT_MEAN: f64 = 0.5;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    /// `R_raw(l) = ½·cos(π·l/(L−1)) + mean`; MoD layer iff `R_raw ≤ max`; `R = max(R_raw, min)`.
    ShiftedCos { max: f64, min: f64, mean: f64 },
    /// `R_raw(l) = 0.5 − l/(L−1) + mean`, then as ShiftedCos.
    ShiftedLinear { max: f64, min: f64, mean: f64 },
    /// Layers 2 ..= L−2 route with a fixed ratio (the reference's `deep_all`).
    DeepAll { ratio: f64 },
    /// Layers 2 ..= L−1 (`deep_all_include_last`).
    DeepAllIncludeLast { ratio: f64 },
    /// Odd layers (`interleave`).
    Interleave { ratio: f64 },
    /// No MoD layer: the dense model (the reference point of comparisons).
    Dense,
}

impl Schedule {
    /// The schedule's name as the CLI and the JS API spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::ShiftedCos { .. } => "shiftedcos",
            Schedule::ShiftedLinear { .. } => "shiftedlinear",
            Schedule::DeepAll { .. } => "deep_all",
            Schedule::DeepAllIncludeLast { .. } => "deep_all_include_last",
            Schedule::Interleave { .. } => "interleave",
            Schedule::Dense => "dense",
        }
    }

    /// Build from a name and its numbers (`max`, `min`, `mean` for the decays; `mean` is the
    /// fixed ratio of the fixed modes, as `mod_router_factor` is in the reference), checked.
    pub fn from_parts(name: &str, max: f64, min: f64, mean: f64) -> Result<Schedule> {
        let bad = |m: String| Err(Error::InvalidArgument(format!("MoD schedule '{name}': {m}")));
        for (what, v) in [("max", max), ("min", min), ("mean", mean)] {
            if !v.is_finite() {
                return bad(format!("{what} is {v}, not a finite number"));
            }
        }
        let ratio_ok = |r: f64| (0.0..=1.0).contains(&r);
        let s = match name {
            "shiftedcos" | "shiftedlinear" => {
                if !ratio_ok(max) || !ratio_ok(min) || min > max {
                    return bad(format!("need 0 ≤ min ≤ max ≤ 1, got max {max}, min {min}"));
                }
                if !(-1.0..=2.0).contains(&mean) {
                    return bad(format!("mean {mean} is outside [-1, 2]"));
                }
                if name == "shiftedcos" {
                    Schedule::ShiftedCos { max, min, mean }
                } else {
                    Schedule::ShiftedLinear { max, min, mean }
                }
            }
            "deep_all" | "deep_all_include_last" | "interleave" => {
                if !ratio_ok(mean) {
                    return bad(format!("ratio {mean} is outside [0, 1]"));
                }
                match name {
                    "deep_all" => Schedule::DeepAll { ratio: mean },
                    "deep_all_include_last" => Schedule::DeepAllIncludeLast { ratio: mean },
                    _ => Schedule::Interleave { ratio: mean },
                }
            }
            "dense" => Schedule::Dense,
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "unknown MoD schedule '{name}': use shiftedcos, shiftedlinear, deep_all, \
                     deep_all_include_last, interleave or dense"
                )))
            }
        };
        Ok(s)
    }

    /// `R_raw(l)` of the decay schedules (None for the fixed modes).
    pub fn raw_ratio(&self, l: usize, n_layers: usize) -> Option<f64> {
        let denom = n_layers.saturating_sub(1).max(1) as f64;
        match *self {
            Schedule::ShiftedCos { mean, .. } => Some(0.5 * (std::f64::consts::PI * l as f64 / denom).cos() + mean),
            Schedule::ShiftedLinear { mean, .. } => Some(0.5 - l as f64 / denom + mean),
            _ => None,
        }
    }

    /// Per layer: `Some(R(l))` for a MoD layer, `None` for a dense one.
    pub fn ratios(&self, n_layers: usize) -> Vec<Option<f64>> {
        (0..n_layers)
            .map(|l| match *self {
                Schedule::ShiftedCos { max, min, .. } | Schedule::ShiftedLinear { max, min, .. } => {
                    let r = self.raw_ratio(l, n_layers).unwrap_or(1.0);
                    (r <= max).then(|| r.max(min))
                }
                Schedule::DeepAll { ratio } => (l >= 2 && l + 1 < n_layers).then_some(ratio),
                Schedule::DeepAllIncludeLast { ratio } => (l >= 2).then_some(ratio),
                Schedule::Interleave { ratio } => (l % 2 == 1).then_some(ratio),
                Schedule::Dense => None,
            })
            .collect()
    }

    /// Mean retention over all layers (dense layers count 1): the fraction of the target
    /// tokens' KV entries kept, up to the truncation of `k`.
    pub fn mean_retention(&self, n_layers: usize) -> f64 {
        let r = self.ratios(n_layers);
        r.iter().map(|x| x.unwrap_or(1.0)).sum::<f64>() / n_layers.max(1) as f64
    }
}

/// Number of target tokens a layer with ratio `r` keeps out of `n_target`: `trunc(n · r)`, as
/// `torch.trunc` in the reference (computed in f64, so `r = 1` keeps all).
pub fn kept_count(n_target: usize, r: f64) -> usize {
    ((n_target as f64 * r).trunc() as usize).min(n_target)
}

/// The `mean` parameter of a decay schedule (with `max`, `min` fixed) whose mean retention over
/// `n_layers` is `target` (bisection; the mean retention is non-decreasing in `mean`).
pub fn mean_for_retention(name: &str, max: f64, min: f64, target: f64, n_layers: usize) -> Result<f64> {
    let f = |m: f64| Schedule::from_parts(name, max, min, m).map(|s| s.mean_retention(n_layers));
    let (mut lo, mut hi) = (-1.0, 2.0);
    if target < f(lo)? || target > f(hi)? {
        return Err(Error::InvalidArgument(format!(
            "mean retention {target} is out of reach of {name} (max {max}, min {min})"
        )));
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if f(mid)? < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}
