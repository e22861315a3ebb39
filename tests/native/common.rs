//! Shared helpers of the native tests: the default model's path and the Python reference venv.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use tritium::model::Model;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The default model (SmolLM2-135M-Instruct Q4_1). Tests that need it fail, not skip, when it
/// is missing: `npm test` fetches it first.
pub fn model_path() -> PathBuf {
    let p = std::env::var_os("TRITIUM_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert!(p.exists(), "default model missing at {}: run `npm run fetch-model` (or set TRITIUM_MODEL)", p.display());
    p
}

/// The default model, loaded once per test binary.
pub fn model() -> Arc<Model> {
    static M: OnceLock<Arc<Model>> = OnceLock::new();
    M.get_or_init(|| Arc::new(Model::from_path(&model_path()).expect("default model loads"))).clone()
}

/// Python of the reference venv (tests/.venv), created and filled on first use.
pub fn python(extra: &[&str]) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("bash")
        .arg(root().join("tests/py/ensure_venv.sh"))
        .args(extra)
        .output()
        .expect("run tests/py/ensure_venv.sh");
    assert!(out.status.success(), "ensure_venv.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    let s = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(s.lines().last().expect("venv python path").trim())
}

/// Run a Python reference script and return its stdout.
pub fn run_py(script: &str, args: &[&str]) -> String {
    let py = python(&[]);
    let out =
        Command::new(py).arg(root().join("tests/py").join(script)).args(args).output().expect("run python reference");
    assert!(out.status.success(), "{script} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

pub fn tmp_dir(name: &str) -> PathBuf {
    let d = root().join("target/test-tmp").join(name);
    std::fs::create_dir_all(&d).expect("create test tmp dir");
    d
}

pub fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = tmp_dir("files").join(name);
    std::fs::write(&p, bytes).expect("write tmp file");
    p
}
