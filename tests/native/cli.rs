//! The native CLI: JSON outputs and errors (non-zero exit, one line on stderr, never a panic).

use std::process::Command;

use serde_json::Value;

use crate::common;

fn tritium(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tritium")).args(args).output().expect("run tritium");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok_json(args: &[&str]) -> Value {
    let (code, out, err) = tritium(args);
    assert_eq!(code, 0, "tritium {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("tritium {args:?}: bad JSON ({e}): {out}"))
}

#[test]
fn info_json() {
    let m = common::model_path();
    let v = ok_json(&["info", m.to_str().unwrap(), "--json"]);
    let c = &v["config"];
    assert_eq!(c["architecture"], "llama");
    assert_eq!(c["n_layers"], 30);
    assert_eq!(c["dim"], 576);
    assert_eq!(c["ffn_dim"], 1536);
    assert_eq!(c["n_heads"], 9);
    assert_eq!(c["n_kv_heads"], 3);
    assert_eq!(c["head_dim"], 64);
    assert_eq!(c["rope"]["base"], 100000.0);
    assert_eq!(c["vocab_size"], 49152);
    assert_eq!(v["tied_output"], true);
    assert_eq!(v["tensors"].as_array().unwrap().len(), 272);
    let embd = v["tensors"].as_array().unwrap().iter().find(|t| t["name"] == "token_embd.weight").unwrap();
    assert_eq!(embd["type"], "Q8_0");
    assert_eq!(embd["shape"], serde_json::json!([49152, 576]));
    assert_eq!(v["tokenizer"]["vocab_size"], 49152);
    // The text form prints the tensor table.
    let (code, out, _) = tritium(&["info", m.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("blk.29.ffn_down.weight") && out.contains("Q4_1"));
}

#[test]
fn generate_json_greedy() {
    let m = common::model_path();
    let v = ok_json(&[
        "generate",
        m.to_str().unwrap(),
        "--prompt",
        "The capital of France is",
        "--max-tokens",
        "6",
        "--temperature",
        "0",
        "--json",
    ]);
    assert_eq!(v["prompt_token_ids"], serde_json::json!([504, 3575, 282, 4649, 314]));
    assert_eq!(v["token_ids"][0], 7042);
    assert!(v["text"].as_str().unwrap().starts_with(" Paris"), "{}", v["text"]);
    assert!(v["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["token_ids"].as_array().unwrap().len(), 6);
}

#[test]
fn score_json() {
    let f = common::write_tmp("score.txt", b"Water boils at one hundred degrees Celsius at sea level.");
    let v = ok_json(&["score", common::model_path().to_str().unwrap(), "--text-file", f.to_str().unwrap(), "--json"]);
    let ids = v["token_ids"].as_array().unwrap().len();
    let nll = v["nll"].as_array().unwrap();
    assert_eq!(nll.len(), ids - 1);
    let mean: f64 = nll.iter().map(|x| x.as_f64().unwrap()).sum::<f64>() / nll.len() as f64;
    assert!((mean - v["mean_nll"].as_f64().unwrap()).abs() < 1e-6);
    assert!((v["perplexity"].as_f64().unwrap() - mean.exp()).abs() < 1e-6 * mean.exp());
}

fn assert_clean_error(args: &[&str], code: &str) {
    let (status, out, err) = tritium(args);
    assert_ne!(status, 0, "tritium {args:?} should fail");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line on stderr: {err}");
    assert!(err.starts_with(&format!("error[{code}]")), "expected {code}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn errors_are_one_line() {
    assert_clean_error(&["info", "/nonexistent/model.gguf"], "E_IO");
    let bad = common::write_tmp("bad-magic.gguf", b"NOPE\x03\x00\x00\x00");
    assert_clean_error(&["info", bad.to_str().unwrap()], "E_BAD_MAGIC");
    let real = std::fs::read(common::model_path()).unwrap();
    let cut = common::write_tmp("cut.gguf", &real[..2_000_000]);
    assert_clean_error(&["info", cut.to_str().unwrap()], "E_OUT_OF_BOUNDS");
    let cut = common::write_tmp("cut-header.gguf", &real[..100_000]);
    assert_clean_error(&["generate", cut.to_str().unwrap(), "--prompt", "x"], "E_TRUNCATED");
    let m = common::model_path();
    assert_clean_error(&["generate", m.to_str().unwrap(), "--prompt", "x", "--top-p", "0"], "E_INVALID_ARGUMENT");
    assert_clean_error(&["generate", m.to_str().unwrap(), "--prompt", "x", "--temperature=-1"], "E_INVALID_ARGUMENT");
    let empty = common::write_tmp("empty.txt", b"");
    assert_clean_error(&["score", m.to_str().unwrap(), "--text-file", empty.to_str().unwrap()], "E_INVALID_ARGUMENT");
}
