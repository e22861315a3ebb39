//! The Mixture-of-Depths prefill on the GPU against the CPU reference, as one function that the
//! native tests (lavapipe) and the browser tests (SwiftShader) both run.

use std::sync::Arc;

use crate::backend::gpu::model::GpuModel;
use crate::backend::gpu::selftest::{fail, max_abs_diff};
use crate::backend::gpu::GpuContext;
use crate::error::Result;
use crate::model::Model;
use crate::pmod::{self, ModConfig, ModOptions};

/// The Mixture-of-Depths prefill on the GPU (backend/gpu/pmod.rs) vs the CPU reference
/// (`pmod::prefill`) for the MoD spec `spec` (e.g. `interleave:0.5`, `shiftedcos:snap`) over
/// `tokens`: returns the layers whose kept sets differ (none expected), the max |logit
/// difference| after the prefill, and after one more decoded token (`next`).
pub async fn check_mod(
    ctx: &Arc<GpuContext>,
    model: &Model,
    tokens: &[u32],
    spec: &str,
    next: u32,
) -> Result<(Vec<usize>, f32, f32)> {
    let cfg = ModConfig::new(model, &ModOptions::parse(spec)?, None)?;
    let mut cache = crate::model::KvCache::new(&model.config);
    let (h, cpu) = pmod::prefill(model, &mut cache, tokens, &cfg, false)?;
    let d = model.config.dim;
    let cpu_logits = crate::backend::cpu::exec::logits(model, &h[h.len() - d..], 1)?;
    let mut g = GpuModel::upload(ctx.clone(), model, tokens.len() + 8).await?;
    let out = g.mod_prefill(tokens, &cfg, true, None).await?;
    let (cr, gr) = (&cpu.retention, &out.report.retention);
    if cr.len() != gr.len() {
        return Err(fail(format!(
            "MoD {spec}: the CPU reports {} retention records (one per layer), the GPU {}",
            cr.len(),
            gr.len()
        )));
    }
    let differ: Vec<usize> = cr.iter().zip(gr).filter(|(a, b)| a != b).map(|(a, _)| a.layer).collect();
    let gl = out
        .logits
        .ok_or_else(|| fail(format!("MoD {spec}: the GPU prefill returned no logits although they were asked for")))?;
    let d1 = max_abs_diff(&format!("MoD {spec} prefill logits"), &cpu_logits, &gl)?;
    let h2 = crate::backend::cpu::exec::forward(model, &mut cache, &[next])?;
    let cpu2 = crate::backend::cpu::exec::logits(model, &h2[h2.len() - d..], 1)?;
    let gpu2 = g.logits(&[next]).await?;
    let d2 = max_abs_diff(&format!("MoD {spec} decode logits"), &cpu2, &gpu2)?;
    Ok((differ, d1, d2))
}
