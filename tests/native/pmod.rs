//! Mixture-of-Depths (p-MoD): the docs/algorithms.md §3.6 test vector, PRD schedule values (§3.2), trained
//! routers from a synthetic checkpoint with the reference's TanhNorm/STRing semantics (§3.3),
//! keep-everything schedules reproducing the dense model bit for bit, per-layer KV caches that
//! hold exactly the kept tokens, and the CLI.

use std::process::Command;
use std::sync::Arc;

use tritium::backend::cpu::exec::{self as forward, LayerScratch};
use tritium::model::synthetic::{tiny_llama_gguf, tiny_llama_gguf_with_routers, TINY_DIM, TINY_LAYERS};
use tritium::model::KvCache;
use tritium::model::Model;
use tritium::pmod::{self, kept_count, tanh_norm, top_k, LsqRouters, ModConfig, ModOptions, RouterKind, Schedule};
use tritium::session::{GenerateOptions, Generation};

use crate::common;

fn opts(spec: &str) -> ModOptions {
    ModOptions::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

#[test]
fn spec_test_vector() {
    // §3.6: 4 target tokens, logits [0.8, -0.3, 1.5, 0.1], ratio 0.5.
    let logits = [0.8f32, -0.3, 1.5, 0.1];
    let want = [1.132807f64, 0.941737, 1.181030, 1.019934];
    let w: Vec<f32> = logits.iter().map(|&r| tanh_norm(r)).collect();
    for (i, (a, b)) in w.iter().zip(want).enumerate() {
        assert!((*a as f64 - b).abs() < 1e-6, "w̃[{i}] = {a}, expected {b}");
    }
    let k = kept_count(4, 0.5);
    assert_eq!(k, 2);
    assert_eq!(top_k(&w, k), vec![0, 2], "kept = logits 0.8 and 1.5, in original order");
    // That skipped tokens leave as w̃·x is checked on the library's prefill, bit for bit, in
    // `trained_router_reference_semantics`.
}

#[test]
fn prd_schedule_values() {
    // §3.2 at L = 32 with the defaults.
    let s = Schedule::from_parts("shiftedcos", 0.85, 0.15, 0.5).unwrap();
    let r = s.ratios(32);
    let want = [
        0.8445, 0.8061, 0.7645, 0.7202, 0.6737, 0.6253, 0.5757, 0.5253, 0.4747, 0.4243, 0.3747, 0.3263, 0.2798, 0.2355,
        0.1939, 0.1555,
    ];
    for (l, x) in r.iter().enumerate() {
        match l {
            0..=7 => assert_eq!(*x, None, "layer {l} is dense"),
            8..=23 => {
                let v = x.unwrap_or_else(|| panic!("layer {l} is a MoD layer"));
                assert!((v - want[l - 8]).abs() < 5e-5, "R({l}) = {v}, expected {}", want[l - 8]);
            }
            _ => assert_eq!(*x, Some(0.15), "layer {l} is at min_ratio"),
        }
    }
    let kept: Vec<usize> = [8, 12, 16, 20, 23, 24, 31].iter().map(|&l| kept_count(576, r[l].unwrap())).collect();
    assert_eq!(kept, vec![486, 388, 273, 161, 89, 86, 86]);
    assert!((s.mean_retention(32) - 0.5375).abs() < 1e-4, "mean R {}", s.mean_retention(32));
    // Generalized to L layers: the curve spans the depth (L − 1 in place of 31).
    let r30 = s.ratios(30);
    assert_eq!(r30[0], None);
    assert_eq!(r30[29], Some(0.15));
    assert!((s.raw_ratio(29, 30).unwrap() - 0.0).abs() < 1e-12);
    assert!((s.mean_retention(30) - 0.54).abs() < 0.005);
    // Shifted linear: R_raw = 0.5 − l/31 + 0.5; MoD layers from l = 5.
    let lin = Schedule::from_parts("shiftedlinear", 0.85, 0.15, 0.5).unwrap().ratios(32);
    assert_eq!(lin[4], None);
    assert!((lin[5].unwrap() - (1.0 - 5.0 / 31.0)).abs() < 1e-12);
    assert_eq!(lin[31], Some(0.15));
    // Fixed-ratio modes (reference index sets).
    let idx = |s: &str| -> Vec<usize> {
        let sch = opts(s).schedule().unwrap();
        sch.ratios(32).iter().enumerate().filter(|(_, r)| r.is_some()).map(|(l, _)| l).collect()
    };
    assert_eq!(idx("deep_all:0.5"), (2..31).collect::<Vec<_>>());
    assert_eq!(idx("deep_all_include_last:0.5"), (2..32).collect::<Vec<_>>());
    assert_eq!(idx("interleave:0.5"), (1..32).step_by(2).collect::<Vec<_>>());
    assert!(idx("dense").is_empty());
    // The mean parameter for a wanted mean retention.
    let m = pmod::mean_for_retention("shiftedcos", 0.85, 0.15, 0.75, 30).unwrap();
    let got = Schedule::from_parts("shiftedcos", 0.85, 0.15, m).unwrap().mean_retention(30);
    assert!((got - 0.75).abs() < 0.02, "mean retention {got}");
}

#[test]
fn bad_specs_are_named() {
    let cases = [
        ("shiftedcos:0.85:0.15", "MAX:MIN:MEAN"),
        ("cosine:0.85:0.15:0.5", "unknown schedule 'cosine'"),
        ("shiftedcos:0.85:0.15:x", "mean 'x' is not a number"),
        ("shiftedcos:0.85:0.15:0.5:oracle", "unknown MoD router 'oracle'"),
        ("shiftedcos:0.1:0.5:0.5", "min ≤ max"),
        ("interleave:1.5", "ratio 1.5"),
        ("dense:1", "dense takes no numbers"),
    ];
    for (spec, needle) in cases {
        let e = ModOptions::parse(spec).expect_err(spec).to_string();
        assert!(e.contains(needle), "{spec}: error '{e}' should mention '{needle}'");
    }
}

fn tiny_with(routers: &[(usize, Vec<f32>, f32)]) -> Arc<Model> {
    Arc::new(Model::from_gguf_bytes(tiny_llama_gguf_with_routers(7, routers)).unwrap())
}

/// Rows `idx` of `x` (`[n, d]`).
fn rows(x: &[f32], idx: &[usize], d: usize) -> Vec<f32> {
    idx.iter().flat_map(|&i| x[i * d..(i + 1) * d].iter().copied()).collect()
}

#[test]
fn trained_router_reference_semantics() {
    let d = TINY_DIM;
    let mut rng = tritium::model::sampler::SplitMix64::new(3);
    let w: Vec<f32> = (0..d).map(|_| (rng.next_f64() as f32 - 0.5) * 0.8).collect();
    let bias = 0.1f32;
    let m = tiny_with(&[(1, w.clone(), bias)]);
    let tokens: Vec<u32> = (0..24u32).map(|i| (i * 37 + 11) % 256).collect();
    // `auto` picks the trained routers when the checkpoint has them.
    let cfg = ModConfig::new(&m, &opts("interleave:0.5"), None).unwrap();
    assert_eq!(cfg.router, RouterKind::Trained);
    let mut cache = KvCache::new(&m.config);
    let (_, rep) = pmod::prefill(&m, &mut cache, &tokens, &cfg, true).unwrap();
    let span = 1..tokens.len() - pmod::DEFAULT_TAIL;
    assert_eq!(rep.span, (span.start, span.end));
    let t0 = &rep.trace[0];
    assert_eq!(t0.kept.len(), tokens.len(), "layer 0 is dense");
    let t1 = &rep.trace[1];
    // Router logits on the layer's input hidden state, TanhNorm.
    let want_w: Vec<f32> = span
        .clone()
        .map(|i| {
            let r: f64 = w.iter().zip(&t1.x_in[i * d..(i + 1) * d]).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>();
            0.2 * ((r + bias as f64).tanh() as f32) + 1.0
        })
        .collect();
    for (j, i) in span.clone().enumerate() {
        assert!((t1.weights[i] - want_w[j]).abs() < 1e-5, "w̃ of token {i}: {} vs {}", t1.weights[i], want_w[j]);
    }
    assert!(t1.weights[0] == 1.0 && t1.weights[tokens.len() - 1] == 1.0, "non-target tokens carry no weight");
    // Kept set: top-k targets by w̃ plus every non-target token.
    let k = kept_count(span.len(), 0.5);
    let mut order: Vec<usize> = span.clone().collect();
    order.sort_by(|&a, &b| t1.weights[b].total_cmp(&t1.weights[a]).then(a.cmp(&b)));
    let mut want_kept: Vec<usize> = order[..k].to_vec();
    want_kept.extend((0..span.start).chain(span.end..tokens.len()));
    want_kept.sort_unstable();
    assert_eq!(t1.kept, want_kept);
    assert_eq!(rep.retention[1].kept_target, k);
    assert_eq!(cache.layer_len(1), want_kept.len(), "layer 1's cache holds the kept tokens only");
    assert_eq!(cache.layer_len(0), tokens.len());
    // Skipped targets: w̃ · x (bitwise).
    for i in span.clone().filter(|i| !want_kept.contains(i)) {
        for c in 0..d {
            assert_eq!(t1.x_out[i * d + c], t1.weights[i] * t1.x_in[i * d + c], "skipped token {i}, channel {c}");
        }
    }
    // Kept tokens: h + w̃·m, with attention among the kept set at their original positions.
    // Run the layer on the kept rows alone with MLP weights 1 and 2 to get h and m.
    let pos: Vec<usize> = want_kept.clone();
    let xk = rows(&t1.x_in, &want_kept, d);
    let run = |wt: Option<&[f32]>| {
        let mut c = KvCache::new(&m.config);
        let mut x = xk.clone();
        let mut s = LayerScratch::new(&m.config, pos.len());
        forward::layer_forward(&m, 1, &mut c, &mut x, &pos, wt, &mut s).unwrap();
        (x, c)
    };
    let (y1, c1) = run(None);
    let twos = vec![2.0f32; pos.len()];
    let (y2, _) = run(Some(&twos));
    for (j, &i) in want_kept.iter().enumerate() {
        let wt = if span.contains(&i) { t1.weights[i] } else { 1.0 };
        for c in 0..d {
            let (a, b) = (y1[j * d + c], y2[j * d + c]);
            let (mlp, h) = (b - a, 2.0 * a - b);
            let want = h + wt * mlp;
            let got = t1.x_out[i * d + c];
            assert!((got - want).abs() <= 1e-4 * (1.0 + want.abs()), "kept token {i} ch {c}: {got} vs {want}");
        }
    }
    assert_eq!(cache.k[1], c1.k[1], "layer 1's keys: the kept tokens', rotated at their original positions");
}

#[test]
fn zero_routers_keeping_everything_are_dense() {
    // w_r = 0, b_r = 0 → w̃ = 1 exactly; ratio 1 keeps every token: the dense model, bit for bit.
    let m = tiny_with(&[(1, vec![0.0; TINY_DIM], 0.0)]);
    let tokens: Vec<u32> = (0..20u32).map(|i| (i * 53 + 5) % 256).collect();
    let cfg = ModConfig::new(&m, &opts("interleave:1.0:trained"), None).unwrap();
    let mut c1 = KvCache::new(&m.config);
    let (h, _) = pmod::prefill(&m, &mut c1, &tokens, &cfg, false).unwrap();
    let mut c2 = KvCache::new(&m.config);
    let dense = forward::forward(&m, &mut c2, &tokens).unwrap();
    assert_eq!(h, dense);
    assert_eq!(c1.k, c2.k);
}

#[test]
fn bad_router_tensors_are_named() {
    let m = tiny_with(&[(1, vec![0.1; TINY_DIM / 2], 0.0)]);
    let e = ModConfig::new(&m, &opts("interleave:0.5:trained"), None).unwrap_err().to_string();
    assert!(e.contains("model.layers.1.router.router.weight") && e.contains("router needs [64]"), "{e}");
    // A MoD layer without a router.
    let m = tiny_with(&[(0, vec![0.1; TINY_DIM], 0.0)]);
    let e = ModConfig::new(&m, &opts("interleave:0.5:trained"), None).unwrap_err().to_string();
    assert!(e.contains("MoD layer 1") && e.contains("model.layers.1.router.router.weight"), "{e}");
    // No router tensors at all.
    let plain = Arc::new(Model::from_gguf_bytes(tiny_llama_gguf(7)).unwrap());
    assert!(ModConfig::new(&plain, &opts("interleave:0.5:trained"), None).is_err());
    assert_eq!(ModConfig::new(&plain, &opts("interleave:0.5"), None).unwrap().router, pmod::DEFAULT_TRAINING_FREE);
    // Spans outside the prompt.
    let cfg =
        ModConfig::new(&plain, &ModOptions { span: Some((5, 100)), ..opts("interleave:0.5:attn") }, None).unwrap();
    let e = pmod::prefill(&plain, &mut KvCache::new(&plain.config), &[1, 2, 3, 4, 5, 6, 7, 8], &cfg, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("span [5, 100)") && e.contains("8 tokens"), "{e}");
    // lsq without calibration text.
    let e = ModConfig::new(&plain, &opts("interleave:0.5:lsq"), None).unwrap_err().to_string();
    assert!(e.contains("calibration text"), "{e}");
}

#[test]
fn lsq_router_fits_and_routes() {
    let m = Arc::new(Model::from_gguf_bytes(tiny_llama_gguf(7)).unwrap());
    let ids: Vec<u32> = (0..400u32).map(|i| (i * 97 + 13) % 256).collect();
    let f = LsqRouters::fit(&m, &ids, 100).unwrap();
    assert_eq!(f.coef.len(), TINY_LAYERS);
    assert_eq!(f.tokens, 396);
    assert!(f.r2.iter().all(|r| r.is_finite() && *r > 0.0 && *r <= 1.0 + 1e-9), "R² {:?}", f.r2);
    let cfg = ModConfig::new(&m, &opts("interleave:0.5:lsq"), Some(Arc::new(f.clone()))).unwrap();
    let tokens = &ids[..30];
    let (_, rep) = pmod::prefill(&m, &mut KvCache::new(&m.config), tokens, &cfg, true).unwrap();
    let t1 = &rep.trace[1];
    let pred = f.predict(1, &t1.x_in[TINY_DIM..(30 - pmod::DEFAULT_TAIL) * TINY_DIM], TINY_DIM);
    let chosen: Vec<usize> = top_k(&pred, kept_count(pred.len(), 0.5)).iter().map(|i| i + 1).collect();
    assert!(chosen.iter().all(|i| t1.kept.contains(i)), "kept {:?} should contain {chosen:?}", t1.kept);
    assert!(t1.weights.iter().all(|&w| w == 1.0), "training-free routers use w̃ = 1");
}

#[test]
fn keep_all_reproduces_dense_exactly() {
    // Training-free routers (w̃ = 1) with every target kept: the same bits as the dense model,
    // prefill states, KV caches and greedy tokens (tolerance 0).
    let m = common::model();
    let prompt = "Gutenberg's press spread across Europe within decades, and printed books soon";
    let ids = m.tokenizer().encode(prompt, true).unwrap();
    let mut cd = KvCache::new(&m.config);
    let dense = forward::forward(&m, &mut cd, &ids).unwrap();
    for spec in ["shiftedcos:1:1:1:attn", "deep_all:1.0:random"] {
        let cfg = ModConfig::new(&m, &opts(spec), None).unwrap();
        assert!(cfg.ratios.iter().any(|r| r.is_some()), "{spec} has MoD layers");
        let mut cm = KvCache::new(&m.config);
        let (h, rep) = pmod::prefill(&m, &mut cm, &ids, &cfg, false).unwrap();
        assert_eq!(h, dense, "{spec}: prefill states");
        assert_eq!(cm.k, cd.k, "{spec}: keys");
        assert_eq!(rep.kv_bytes, rep.kv_bytes_dense);
    }
    let gen = |mod_opts: Option<ModOptions>| {
        let o = GenerateOptions { max_tokens: 6, mod_opts, ..Default::default() };
        let mut g = Generation::new(m.clone(), prompt, &o).unwrap();
        while g.step().unwrap().is_some() {}
        g.token_ids().to_vec()
    };
    assert_eq!(gen(Some(opts("shiftedcos:1:1:1:attn"))), gen(None));
}

#[test]
fn per_layer_caches_hold_the_kept_tokens() {
    let m = common::model();
    let ids = m
        .tokenizer()
        .encode("In the spring of 1454 the first printed Bible appeared, and scholars across the continent took note of the new art.", true)
        .unwrap();
    let n = ids.len();
    let cfg = ModConfig::new(&m, &opts("shiftedcos:0.85:0.15:0.5:attn"), None).unwrap();
    let mut cache = KvCache::new(&m.config);
    let (_, rep) = pmod::prefill(&m, &mut cache, &ids, &cfg, false).unwrap();
    assert_eq!(rep.retention.len(), 30);
    let n_target = n - 1 - pmod::DEFAULT_TAIL;
    let entry = 2 * m.config.kv_dim() * 4;
    for r in &rep.retention {
        let want = cfg.ratios[r.layer].map_or(n_target, |x| kept_count(n_target, x));
        assert_eq!(r.kept_target, want, "layer {}", r.layer);
        assert_eq!(r.kept_tokens, want + n - n_target, "layer {}", r.layer);
        assert_eq!(cache.layer_len(r.layer), r.kept_tokens, "layer {}: cache entries", r.layer);
        assert_eq!(r.kept_mask.bytes().filter(|&b| b == b'1').count(), r.kept_tokens);
        assert_eq!(r.kv_bytes, r.kept_tokens * entry);
        assert!(r.flops <= r.flops_dense);
    }
    assert_eq!(cache.bytes(), rep.kv_bytes);
    assert!(rep.target_kv_ratio <= 0.55, "target KV {}", rep.target_kv_ratio);
    assert!(rep.target_flops_ratio <= 0.60, "target FLOPs {}", rep.target_flops_ratio);
    // Decoding: one new entry per layer, at position n.
    let h = forward::forward(&m, &mut cache, &[1345]).unwrap();
    assert!(h.iter().all(|v| v.is_finite()));
    for r in &rep.retention {
        assert_eq!(cache.layer_len(r.layer), r.kept_tokens + 1);
    }
    assert_eq!(cache.len, n + 1);
}

fn tritium(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tritium")).args(args).output().expect("run tritium");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_generate_mod_json() {
    let m = common::model_path();
    let prompt = "The printing press changed how people shared ideas, because books became cheaper and";
    let (code, out, err) = tritium(&[
        "generate",
        m.to_str().unwrap(),
        "--prompt",
        prompt,
        "--max-tokens",
        "4",
        "--mod",
        "shiftedcos:0.85:0.15:0.5",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["mod"]["router"], pmod::DEFAULT_TRAINING_FREE.name(), "auto without trained routers");
    let ret = v["retention"].as_array().expect("retention records");
    assert_eq!(ret.len(), 30);
    let n = v["prompt_token_ids"].as_array().unwrap().len();
    assert_eq!(ret[0]["kept_mask"].as_str().unwrap().len(), n);
    assert_eq!(ret[0]["mod_layer"], false);
    assert_eq!(ret[29]["mod_layer"], true);
    let f = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {v}"));
    assert!(f("kv_bytes") < f("kv_bytes_dense") && f("flops") < f("flops_dense"), "{v}");
    assert_eq!(v["token_ids"].as_array().unwrap().len(), 4);
    for (args, needle) in [
        (vec!["--mod", "shiftedcos:0.85"], "MAX:MIN:MEAN"),
        (vec!["--mod", "shiftedcos:0.85:0.15:0.5:attn", "--mod-span", "3:999"], "span [3, 999)"),
        (vec!["--mod", "shiftedcos", "--backend", "gpu", "--mod-span", "5:2"], "span [5, 2)"),
        (vec!["--mod-span", "1:2"], "need --mod"),
    ] {
        let mut a = vec!["generate", m.to_str().unwrap(), "--prompt", prompt, "--max-tokens", "1"];
        a.extend(args);
        let (code, out, err) = tritium(&a);
        assert_ne!(code, 0, "{a:?} should fail");
        assert!(out.is_empty() && err.trim_end().lines().count() == 1, "{a:?}: {err}");
        assert!(err.starts_with("error[E_INVALID_ARGUMENT]") && err.contains(needle), "{a:?}: {err}");
    }
}

#[test]
fn cli_generate_mod_on_the_gpu() {
    // `--backend gpu --mod` runs the MoD prefill on the GPU (lavapipe here): the same kept sets,
    // retention records, KV bytes and FLOPs as the CPU run, and the same greedy tokens.
    let m = common::model_path();
    let prompt = "The printing press changed how people shared ideas, because books became cheaper and";
    let run = |backend: &str| {
        let args = ["generate", m.to_str().unwrap(), "--prompt", prompt, "--max-tokens", "3", "--temperature", "0"];
        let mut a = args.to_vec();
        a.extend(["--mod", "shiftedcos:0.85:0.15:0.5:snap", "--backend", backend, "--json"]);
        let (code, out, err) = tritium(&a);
        assert_eq!(code, 0, "{backend}: {err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let (cpu, gpu) = (run("cpu"), run("gpu"));
    assert_eq!(gpu["backend"], "webgpu");
    assert_eq!(cpu["backend"], "cpu");
    assert_eq!(gpu["retention"].as_array().map(|r| r.len()), Some(30));
    assert_eq!(cpu["retention"], gpu["retention"], "per-layer retention records (kept masks, KV bytes, FLOPs)");
    for k in ["kv_bytes", "kv_bytes_dense", "flops", "flops_dense"] {
        assert_eq!(cpu[k], gpu[k], "{k}");
    }
    assert_eq!(cpu["token_ids"], gpu["token_ids"], "greedy tokens");
}

#[test]
fn cli_score_mod_json() {
    let f = common::write_tmp(
        "pmod-score.txt",
        b"The river rose after three days of rain. Farmers moved their animals to higher ground, and the \
          village council opened the school as a shelter. By the fourth morning the water had reached the \
          church steps, but the old stone bridge held.",
    );
    let (code, out, err) = tritium(&[
        "score",
        common::model_path().to_str().unwrap(),
        "--text-file",
        f.to_str().unwrap(),
        "--ctx",
        "24",
        "--continuation",
        "8",
        "--mod",
        "dense",
        "--mod",
        "shiftedcos:0.85:0.15:0.5:attn",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["windows"].as_u64().unwrap() >= 1);
    let mods = v["mods"].as_array().unwrap();
    assert_eq!(mods.len(), 2);
    assert_eq!(mods[0]["delta_nll"].as_f64().unwrap(), 0.0, "dense via the MoD path is the dense model");
    assert_eq!(mods[0]["nll"], v["dense_nll"]);
    assert!(mods[1]["kv_ratio"].as_f64().unwrap() < 1.0);
}
