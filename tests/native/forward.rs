//! The CPU reference forward: the default model's greedy check, agreement with an independent
//! numpy forward (tests/py/llama_ref.py), prefill/decode consistency, sampling, and the tiny
//! synthetic model's golden logits (which the browser test checks in headless Chrome too).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tritium::eval;
use tritium::model::synthetic::tiny_llama_gguf;
use tritium::model::{KvCache, Model};
use tritium::session::{GenerateOptions, Generation};

use crate::common;

#[test]
fn capital_of_france_is_paris() {
    let m = common::model();
    let tok = m.tokenizer();
    let ids = tok.encode("The capital of France is", true).unwrap();
    assert_eq!(ids, vec![504, 3575, 282, 4649, 314]);
    let logits = tritium::backend::cpu::exec::forward_logits(&m, &ids).unwrap();
    let top = tritium::model::sampler::argmax(&logits);
    assert_eq!(top, 7042, "greedy next token should be ' Paris' (7042), got {top} ({:?})", tok.decode(&[top as u32]));
    let opts = GenerateOptions { max_tokens: 4, ..Default::default() };
    let mut g = Generation::new(m.clone(), "The capital of France is", &opts).unwrap();
    let mut text = String::new();
    while let Some(p) = g.step().unwrap() {
        text.push_str(&p);
    }
    assert!(text.starts_with(" Paris"), "generated {text:?}");
}

#[derive(Deserialize)]
struct RefLogits {
    logits: Vec<f64>,
}

fn numpy_logits(path: &std::path::Path, ids: &[u32]) -> Vec<f64> {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    let out = common::run_py("llama_ref.py", &[path.to_str().unwrap(), &ids.join(",")]);
    serde_json::from_str::<RefLogits>(&out).unwrap().logits
}

fn compare(ours: &[f32], theirs: &[f64], tol: f64, what: &str) {
    assert_eq!(ours.len(), theirs.len());
    let mut max = 0f64;
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let d = (*a as f64 - b).abs();
        assert!(d <= tol, "{what}: logit {i}: ours {a} vs numpy {b} (|diff| {d} > {tol})");
        max = max.max(d);
    }
    let top_a = tritium::model::sampler::argmax(ours);
    let top_b = theirs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(top_a, top_b, "{what}: top-1 differs");
    eprintln!("{what}: max |logit diff| vs numpy float64 = {max:.2e}");
}

#[test]
fn default_model_matches_numpy_reference() {
    let m = common::model();
    let ids = m.tokenizer().encode("The quick brown fox jumps over the lazy dog. In 1969, Apollo 11", true).unwrap();
    let ours = tritium::backend::cpu::exec::forward_logits(&m, &ids).unwrap();
    compare(&ours, &numpy_logits(&common::model_path(), &ids), 2e-3, "default model");
}

#[test]
fn tiny_model_matches_numpy_reference() {
    let bytes = tiny_llama_gguf(TINY_SEED);
    let p = common::write_tmp("tiny.gguf", &bytes);
    let m = Model::from_gguf_bytes(bytes).unwrap();
    let ours = tritium::backend::cpu::exec::forward_logits(&m, TINY_TOKENS).unwrap();
    compare(&ours, &numpy_logits(&p, TINY_TOKENS), 1e-4, "tiny model");
}

#[test]
fn prefill_equals_token_by_token_decode() {
    let m = common::model();
    let ids = m.tokenizer().encode("Once upon a time, there was a little robot who", true).unwrap();
    let batch = tritium::backend::cpu::exec::forward_logits(&m, &ids).unwrap();
    let mut cache = KvCache::new(&m.config);
    let mut hidden = Vec::new();
    for &t in &ids {
        hidden = tritium::backend::cpu::exec::forward(&m, &mut cache, &[t]).unwrap();
    }
    let step = tritium::backend::cpu::exec::logits(&m, &hidden, 1).unwrap();
    let max = batch.iter().zip(&step).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max < 1e-3, "prefill vs incremental decode: max |diff| {max}");
}

fn sample_text(m: &Arc<Model>, seed: u64) -> (String, Vec<u32>) {
    let opts = GenerateOptions { max_tokens: 16, temperature: 0.9, top_k: 50, top_p: 0.9, seed, ..Default::default() };
    let mut g = Generation::new(m.clone(), "My favourite food is", &opts).unwrap();
    let mut s = String::new();
    while let Some(p) = g.step().unwrap() {
        s.push_str(&p);
    }
    (s, g.token_ids().to_vec())
}

#[test]
fn sampling_is_reproducible_per_seed() {
    let m = common::model();
    let a = sample_text(&m, 7);
    let b = sample_text(&m, 7);
    assert_eq!(a, b, "same seed, same text");
    let c = sample_text(&m, 8);
    let d = sample_text(&m, 9);
    assert!(a.1 != c.1 || a.1 != d.1, "different seeds should give different samples: {a:?} {c:?} {d:?}");
}

#[test]
fn chat_template_generation_answers() {
    let m = common::model();
    let opts = GenerateOptions { max_tokens: 24, chat: true, ..Default::default() };
    let mut g = Generation::new(m.clone(), "What is the capital of France?", &opts).unwrap();
    let mut s = String::new();
    while let Some(p) = g.step().unwrap() {
        s.push_str(&p);
    }
    let prompt = m.tokenizer().decode(g.prompt_token_ids()).unwrap();
    assert!(prompt.contains("<|im_start|>user\nWhat is the capital of France?<|im_end|>"), "{prompt:?}");
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt:?}");
    assert!(s.contains("Paris"), "chat answer {s:?}");
}

#[test]
fn score_matches_forward_and_windows_cover_every_token() {
    let m = common::model();
    let text = "The cat sat on the mat. The dog sat on the log. The bird sat on the branch and sang.";
    let full = eval::score_text(&m, text, None).unwrap();
    assert_eq!(full.nll.len(), full.token_ids.len() - 1);
    assert!(full.mean_nll > 0.5 && full.mean_nll < 6.0, "mean nll {}", full.mean_nll);
    // NLL of the last token equals -log softmax of forward_logits on the prefix.
    let ids = &full.token_ids;
    let logits = tritium::backend::cpu::exec::forward_logits(&m, &ids[..ids.len() - 1]).unwrap();
    let want = tritium::backend::cpu::log_sum_exp(&logits) - logits[*ids.last().unwrap() as usize];
    assert!((want - full.nll.last().unwrap()).abs() < 1e-3);
    // Short windows still predict every token once, with less context (higher loss).
    let win = eval::score_text(&m, text, Some(8)).unwrap();
    assert_eq!(win.nll.len(), full.nll.len());
    assert!(win.windows > 1);
    assert!(win.mean_nll > full.mean_nll);
    assert!((win.nll[0] - full.nll[0]).abs() < 1e-3);
}

pub const TINY_SEED: u64 = 2024;
pub const TINY_TOKENS: &[u32] = &[84, 72, 256, 258, 3, 100, 261, 17, 44, 200, 259];

#[derive(Serialize, Deserialize)]
struct Golden {
    seed: u64,
    tokens: Vec<u32>,
    logits: Vec<f32>,
}

/// tests/data/tiny_logits.json holds the native logits of the tiny model; the browser test
/// recomputes them in wasm and compares within 1e-5. `TRITIUM_BLESS=1` rewrites the file.
#[test]
fn tiny_model_golden_logits() {
    let m = Model::from_gguf_bytes(tiny_llama_gguf(TINY_SEED)).unwrap();
    let logits = tritium::backend::cpu::exec::forward_logits(&m, TINY_TOKENS).unwrap();
    let path = common::root().join("tests/data/tiny_logits.json");
    if std::env::var("TRITIUM_BLESS").is_ok() {
        let g = Golden { seed: TINY_SEED, tokens: TINY_TOKENS.to_vec(), logits: logits.clone() };
        std::fs::write(&path, serde_json::to_string(&g).unwrap()).unwrap();
    }
    let g: Golden =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("tests/data/tiny_logits.json")).unwrap();
    assert_eq!((g.seed, g.tokens.as_slice()), (TINY_SEED, TINY_TOKENS));
    assert_eq!(g.logits.len(), logits.len());
    for (i, (a, b)) in logits.iter().zip(&g.logits).enumerate() {
        assert!((a - b).abs() <= 1e-5, "logit {i}: {a} vs golden {b}");
    }
}
