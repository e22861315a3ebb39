//! tritium vs oxbitnet (crates.io `oxbitnet` 0.5.2, a BitNet b1.58 runtime on wgpu), ternary
//! decode on the same wgpu adapter.
//!
//! Writes one random BitNet-shaped model twice with the same trits and scales: as an I2_S GGUF
//! (microsoft/BitNet's x86 layout, docs/algorithms.md §2.2: blocks of 128 weights → 32
//! bytes, byte p holding weights p, p+32, p+64, p+96 at bits 7..6 … 1..0 as t+1, then the f32
//! tensor scale and 28 zero bytes), which oxbitnet reads, and as a Llama GGUF with TQ2_0 weights
//! (d = the tensor scale in every block) and a byte-level tokenizer, which tritium reads. Then:
//!  - oxbitnet in this process: prefill the prompt ids, then decode greedily (forward one token,
//!    read the logits back, argmax), as its own `generate` loop does; tokens/s by wall clock.
//!  - tritium as a subprocess (`tritium bench --backend gpu MODEL --json`, the CLI built by
//!    `cargo build --release` at the repository root): its prefill/decode tokens/s on the same
//!    model, plus its timestamp-query kernel times for the model's matmul shapes.
//!
//! oxbitnet exposes no kernel timer; its per-token time is the end-to-end figure.
//!
//!   cargo run --release --manifest-path pkg-scripts/peer-oxbitnet/Cargo.toml -- \
//!       [--layers 4] [--hidden 2560] [--ffn 6912] [--heads 20] [--kv-heads 5] [--vocab 32000] \
//!       [--prompt-tokens 16] [--tokens 16] [--tritium target/release/tritium] [--out DIR]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use half::f16;

struct Opts {
    layers: usize,
    hidden: usize,
    ffn: usize,
    heads: usize,
    kv_heads: usize,
    vocab: usize,
    prompt_tokens: usize,
    tokens: usize,
    tritium: PathBuf,
    out: PathBuf,
    seed: u64,
}

fn parse_args() -> Result<Opts, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let mut o = Opts {
        layers: 4,
        hidden: 2560,
        ffn: 6912,
        heads: 20,
        kv_heads: 5,
        vocab: 32000,
        prompt_tokens: 16,
        tokens: 16,
        tritium: root.join("target/release/tritium"),
        out: root.join("target/bench/peer-oxbitnet"),
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|_| format!("{a}: '{v}' is not a number"));
        match a.as_str() {
            "--layers" => o.layers = num(val()?)?,
            "--hidden" => o.hidden = num(val()?)?,
            "--ffn" => o.ffn = num(val()?)?,
            "--heads" => o.heads = num(val()?)?,
            "--kv-heads" => o.kv_heads = num(val()?)?,
            "--vocab" => o.vocab = num(val()?)?,
            "--prompt-tokens" => o.prompt_tokens = num(val()?)?,
            "--tokens" => o.tokens = num(val()?)?,
            "--seed" => o.seed = num(val()?)? as u64,
            "--tritium" => o.tritium = PathBuf::from(val()?),
            "--out" => o.out = PathBuf::from(val()?),
            "-h" | "--help" => {
                println!("usage: peer-oxbitnet [--layers N] [--hidden N] [--ffn N] [--heads N] [--kv-heads N] [--vocab N] [--prompt-tokens N] [--tokens N] [--tritium PATH] [--out DIR]");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if !o.hidden.is_multiple_of(256) || !o.ffn.is_multiple_of(256) {
        return Err(format!("--hidden {} and --ffn {} must be multiples of 256 (TQ2_0 blocks)", o.hidden, o.ffn));
    }
    if o.heads == 0 || o.kv_heads == 0 || !o.hidden.is_multiple_of(o.heads) || !o.heads.is_multiple_of(o.kv_heads) {
        return Err(format!("--heads {} / --kv-heads {} must divide --hidden {}", o.heads, o.kv_heads, o.hidden));
    }
    if o.vocab < 300 || o.layers == 0 || o.tokens == 0 || o.prompt_tokens == 0 {
        return Err("--vocab must be ≥ 300 and --layers, --tokens, --prompt-tokens ≥ 1".into());
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// Random weights.

struct SplitMix64(u64);
impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Ternary weights with about half zeros (BitNet's absmean trits are ~1/3 to 1/2 zero).
fn random_trits(rng: &mut SplitMix64, n: usize) -> Vec<i8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut r = rng.next();
        for _ in 0..32 {
            if out.len() == n {
                break;
            }
            out.push(match r & 3 {
                0 => -1,
                1 => 1,
                _ => 0,
            });
            r >>= 2;
        }
    }
    out
}

fn pack_i2s(trits: &[i8], scale: f32) -> Vec<u8> {
    let mut out = vec![0u8; trits.len() / 4 + 32];
    for (t, o) in trits.chunks_exact(128).zip(out.chunks_exact_mut(32)) {
        for (j, &v) in t.iter().enumerate() {
            o[j % 32] |= ((v + 1) as u8) << (6 - 2 * (j / 32));
        }
    }
    let n4 = trits.len() / 4;
    out[n4..n4 + 4].copy_from_slice(&scale.to_le_bytes());
    out
}

/// ggml TQ2_0: blocks of 256 → 64 bytes (weight 128h + 32l + m in byte 32h + m at bits 2l) + f16 d.
fn pack_tq2_0(trits: &[i8], d: f32) -> Vec<u8> {
    let d = f16::from_f32(d).to_le_bytes();
    let mut out = Vec::with_capacity(trits.len() / 256 * 66);
    for b in trits.chunks_exact(256) {
        let mut qs = [0u8; 64];
        for h in 0..2 {
            for l in 0..4 {
                for m in 0..32 {
                    qs[32 * h + m] |= ((b[128 * h + 32 * l + m] + 1) as u8) << (2 * l);
                }
            }
        }
        out.extend_from_slice(&qs);
        out.extend_from_slice(&d);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A minimal GGUF v3 writer (the key/value types and tensor table these two files need).

enum Val {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    StrArr(Vec<String>),
    I32Arr(Vec<i32>),
}

struct Gguf {
    kv: Vec<(String, Val)>,
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
}

impl Gguf {
    fn new() -> Self {
        Gguf { kv: Vec::new(), tensors: Vec::new() }
    }
    fn set(&mut self, k: &str, v: Val) {
        self.kv.push((k.to_string(), v));
    }
    fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, data: Vec<u8>) {
        self.tensors.push((name.to_string(), dims.to_vec(), ty, data));
    }
    fn write(&self, path: &Path) -> std::io::Result<u64> {
        fn s(b: &mut Vec<u8>, x: &str) {
            b.extend_from_slice(&(x.len() as u64).to_le_bytes());
            b.extend_from_slice(x.as_bytes());
        }
        let mut h = Vec::new();
        h.extend_from_slice(b"GGUF");
        h.extend_from_slice(&3u32.to_le_bytes());
        h.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        h.extend_from_slice(&(self.kv.len() as u64).to_le_bytes());
        for (k, v) in &self.kv {
            s(&mut h, k);
            match v {
                Val::U32(x) => {
                    h.extend_from_slice(&4u32.to_le_bytes());
                    h.extend_from_slice(&x.to_le_bytes());
                }
                Val::F32(x) => {
                    h.extend_from_slice(&6u32.to_le_bytes());
                    h.extend_from_slice(&x.to_le_bytes());
                }
                Val::Bool(x) => {
                    h.extend_from_slice(&7u32.to_le_bytes());
                    h.push(*x as u8);
                }
                Val::Str(x) => {
                    h.extend_from_slice(&8u32.to_le_bytes());
                    s(&mut h, x);
                }
                Val::StrArr(xs) => {
                    h.extend_from_slice(&9u32.to_le_bytes());
                    h.extend_from_slice(&8u32.to_le_bytes());
                    h.extend_from_slice(&(xs.len() as u64).to_le_bytes());
                    for x in xs {
                        s(&mut h, x);
                    }
                }
                Val::I32Arr(xs) => {
                    h.extend_from_slice(&9u32.to_le_bytes());
                    h.extend_from_slice(&5u32.to_le_bytes());
                    h.extend_from_slice(&(xs.len() as u64).to_le_bytes());
                    for x in xs {
                        h.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
        }
        let align = 32u64;
        let mut off = 0u64;
        for (name, dims, ty, data) in &self.tensors {
            s(&mut h, name);
            h.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                h.extend_from_slice(&d.to_le_bytes());
            }
            h.extend_from_slice(&ty.to_le_bytes());
            h.extend_from_slice(&off.to_le_bytes());
            off = (off + data.len() as u64).div_ceil(align) * align;
        }
        while !(h.len() as u64).is_multiple_of(align) {
            h.push(0);
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        f.write_all(&h)?;
        let mut written = 0u64;
        for (_, _, _, data) in &self.tensors {
            f.write_all(data)?;
            written += data.len() as u64;
            let pad = written.div_ceil(align) * align - written;
            f.write_all(&vec![0u8; pad as usize])?;
            written += pad;
        }
        f.flush()?;
        Ok(h.len() as u64 + written)
    }
}

const GGML_F32: u32 = 0;
const GGML_F16: u32 = 1;
const GGML_TQ2_0: u32 = 35;
const GGML_I2_S: u32 = 36;

/// GPT-2's byte → printable-character map (byte-level BPE tokens).
fn bytes_to_unicode() -> Vec<char> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut table = vec!['\0'; 256];
    for (b, c) in bs.iter().zip(cs) {
        table[*b as usize] = char::from_u32(c).unwrap_or('?');
    }
    table
}

/// Both files. Returns (i2s path, tq2 path, ternary weight count).
fn write_models(o: &Opts) -> std::io::Result<(PathBuf, PathBuf, u64)> {
    std::fs::create_dir_all(&o.out)?;
    let mut rng = SplitMix64(o.seed);
    let (d, f, kv) = (o.hidden, o.ffn, o.hidden / o.heads * o.kv_heads);
    let mut a = Gguf::new(); // oxbitnet, I2_S
    let mut b = Gguf::new(); // tritium, TQ2_0
    let head_dim = d / o.heads;
    for (g, arch) in [(&mut a, "bitnet"), (&mut b, "llama")] {
        g.set("general.architecture", Val::Str(arch.into()));
        g.set("general.name", Val::Str("random BitNet-shaped model (tritium bench)".into()));
        g.set("general.alignment", Val::U32(32));
        g.set(&format!("{arch}.context_length"), Val::U32(4096));
        g.set(&format!("{arch}.embedding_length"), Val::U32(d as u32));
        g.set(&format!("{arch}.block_count"), Val::U32(o.layers as u32));
        g.set(&format!("{arch}.feed_forward_length"), Val::U32(f as u32));
        g.set(&format!("{arch}.attention.head_count"), Val::U32(o.heads as u32));
        g.set(&format!("{arch}.attention.head_count_kv"), Val::U32(o.kv_heads as u32));
        g.set(&format!("{arch}.rope.freq_base"), Val::F32(500_000.0));
        g.set(&format!("{arch}.rope.dimension_count"), Val::U32(head_dim as u32));
        g.set(&format!("{arch}.attention.layer_norm_rms_epsilon"), Val::F32(1e-5));
        g.set(&format!("{arch}.vocab_size"), Val::U32(o.vocab as u32));
    }
    // Tokenizer for tritium: the 256 byte tokens, filler tokens up to the vocabulary, and EOS.
    let table = bytes_to_unicode();
    let mut tokens: Vec<String> = table.iter().map(|c| c.to_string()).collect();
    let mut types = vec![1i32; 256];
    tokens.push("Ġt".into()); // the one merge's result
    types.push(1);
    while tokens.len() < o.vocab - 1 {
        tokens.push(format!("<unused{}>", tokens.len()));
        types.push(5);
    }
    tokens.push("<|endoftext|>".into());
    types.push(3);
    b.set("tokenizer.ggml.model", Val::Str("gpt2".into()));
    b.set("tokenizer.ggml.pre", Val::Str("smollm".into()));
    b.set("tokenizer.ggml.tokens", Val::StrArr(tokens));
    b.set("tokenizer.ggml.token_type", Val::I32Arr(types));
    b.set("tokenizer.ggml.merges", Val::StrArr(vec!["Ġ t".into()]));
    b.set("tokenizer.ggml.bos_token_id", Val::U32(o.vocab as u32 - 1));
    b.set("tokenizer.ggml.eos_token_id", Val::U32(o.vocab as u32 - 1));
    b.set("tokenizer.ggml.add_bos_token", Val::Bool(false));

    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let emb: Vec<u8> =
        (0..o.vocab * d).flat_map(|_| f16::from_f32((rng.f() - 0.5) * 0.1).to_le_bytes()).collect::<Vec<u8>>();
    a.tensor("token_embd.weight", &[d as u64, o.vocab as u64], GGML_F16, emb.clone());
    b.tensor("token_embd.weight", &[d as u64, o.vocab as u64], GGML_F16, emb);
    let ones = f32s(&vec![1.0; d]);
    let mut ternary = 0u64;
    for l in 0..o.layers {
        let n = |x: &str| format!("blk.{l}.{x}.weight");
        for g in [&mut a, &mut b] {
            g.tensor(&n("attn_norm"), &[d as u64], GGML_F32, ones.clone());
            g.tensor(&n("ffn_norm"), &[d as u64], GGML_F32, ones.clone());
        }
        for (name, rows, cols) in [
            ("attn_q", d, d),
            ("attn_k", kv, d),
            ("attn_v", kv, d),
            ("attn_output", d, d),
            ("ffn_gate", f, d),
            ("ffn_up", f, d),
            ("ffn_down", d, f),
        ] {
            let t = random_trits(&mut rng, rows * cols);
            let scale = 1.0 / (cols as f32).sqrt();
            a.tensor(&n(name), &[cols as u64, rows as u64], GGML_I2_S, pack_i2s(&t, scale));
            b.tensor(&n(name), &[cols as u64, rows as u64], GGML_TQ2_0, pack_tq2_0(&t, scale));
            ternary += (rows * cols) as u64;
        }
    }
    for g in [&mut a, &mut b] {
        g.tensor("output_norm.weight", &[d as u64], GGML_F32, ones.clone());
    }
    let pa = o.out.join("bitnet-random.i2_s.gguf");
    let pb = o.out.join("bitnet-random.tq2_0.gguf");
    a.write(&pa)?;
    b.write(&pb)?;
    Ok((pa, pb, ternary))
}

// ---------------------------------------------------------------------------------------------

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// oxbitnet: load, prefill, greedy decode. Returns JSON figures.
async fn run_oxbitnet(path: &Path, o: &Opts) -> Result<serde_json::Value, String> {
    use oxbitnet::gpu::device::init_gpu;
    use oxbitnet::model::loader::load_model;
    use oxbitnet::nn::model::BitNetModel;
    let t0 = Instant::now();
    let gpu = init_gpu().await.map_err(|e| format!("oxbitnet init_gpu: {e}"))?;
    let info = {
        // The adapter oxbitnet's own Instance picks (init_gpu does not return it): ask the same way.
        let inst = wgpu::Instance::default();
        match inst
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
        {
            Ok(a) => {
                let i = a.get_info();
                format!("{} ({:?}, {})", i.name, i.backend, i.driver)
            }
            Err(e) => format!("unknown ({e})"),
        }
    };
    let path_s = path.to_str().ok_or("non-UTF-8 path")?;
    let res = load_model(path_s, Arc::clone(&gpu.device), Arc::clone(&gpu.queue), Default::default())
        .await
        .map_err(|e| format!("oxbitnet load_model: {e}"))?;
    let mut model =
        BitNetModel::build(Arc::clone(&gpu.device), Arc::clone(&gpu.queue), res.config.clone(), &res.weights, 4096)
            .map_err(|e| format!("oxbitnet build: {e}"))?;
    let load_s = t0.elapsed().as_secs_f64();
    let prompt: Vec<u32> = (0..o.prompt_tokens as u32).map(|i| 32 + (i * 7) % 90).collect();

    // Warm-up (pipeline creation): a short prefill and one decode step.
    model.reset_kv_cache();
    let l = model.forward(&prompt[..2]);
    let _ = model.read_logits(&l).await.map_err(|e| format!("oxbitnet read_logits: {e}"))?;
    model.reset_kv_cache();

    let t = Instant::now();
    let logits = model.forward(&prompt);
    let mut v = model.read_logits(&logits).await.map_err(|e| format!("oxbitnet read_logits: {e}"))?;
    let prefill_s = t.elapsed().as_secs_f64();
    let mut ids = Vec::new();
    let t = Instant::now();
    for _ in 0..o.tokens {
        let next = argmax(&v);
        ids.push(next);
        let logits = model.forward(&[next]);
        v = model.read_logits(&logits).await.map_err(|e| format!("oxbitnet read_logits: {e}"))?;
    }
    let decode_s = t.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "engine": "oxbitnet 0.5.2",
        "adapter": info,
        "load_s": load_s,
        "prompt_tokens": prompt.len(),
        "decode_tokens": o.tokens,
        "prefill_tokens_per_s": prompt.len() as f64 / prefill_s,
        "decode_tokens_per_s": o.tokens as f64 / decode_s,
        "decode_ms_per_token": decode_s * 1000.0 / o.tokens as f64,
        "kernel_timer": null,
        "first_ids": ids.iter().take(8).collect::<Vec<_>>(),
    }))
}

fn run_tritium(path: &Path, o: &Opts) -> Result<serde_json::Value, String> {
    if !o.tritium.exists() {
        return Err(format!("{} not found: run `cargo build --release` at the repository root", o.tritium.display()));
    }
    let kv = o.hidden / o.heads * o.kv_heads;
    let shapes = format!("{h}x{h},{kv}x{h},{f}x{h},{h}x{f}", h = o.hidden, f = o.ffn);
    let out = Command::new(&o.tritium)
        .args(["bench", "--backend", "gpu", "--types", "TQ2_0", "--batch", "1", "--iters", "3", "--json"])
        .args(["--shapes", &shapes, "--tokens", &o.tokens.to_string(), "--prompt-tokens", &o.prompt_tokens.to_string()])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", o.tritium.display()))?;
    if !out.status.success() {
        return Err(format!("tritium bench failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find('{').ok_or_else(|| format!("tritium bench printed no JSON: {text}"))?;
    serde_json::from_str(&text[start..]).map_err(|e| format!("tritium bench JSON: {e}"))
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("peer-oxbitnet: error: {e}");
            std::process::exit(2);
        }
    };
    let (pa, pb, ternary) = match write_models(&o) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("peer-oxbitnet: error: writing the models under {}: {e}", o.out.display());
            std::process::exit(1);
        }
    };
    eprintln!("peer-oxbitnet: wrote {} and {}", pa.display(), pb.display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let ox = rt.block_on(run_oxbitnet(&pa, &o));
    let tr = run_tritium(&pb, &o);
    let model = serde_json::json!({"layers": o.layers, "hidden": o.hidden, "ffn": o.ffn, "heads": o.heads,
        "kv_heads": o.kv_heads, "vocab": o.vocab, "ternary_weights": ternary, "embedding": "F16, tied output",
        "files": [pa.display().to_string(), pb.display().to_string()]});
    let ox_v = ox.clone().unwrap_or_else(|e| serde_json::json!({"engine": "oxbitnet 0.5.2", "error": e}));
    let tr_v = tr.clone().unwrap_or_else(|e| serde_json::json!({"engine": "tritium", "error": e}));
    let mut speedup = serde_json::Value::Null;
    if let (Ok(x), Ok(t)) = (&ox, &tr) {
        let m = &t["model"];
        speedup = serde_json::json!({
            "decode": m["decode_tokens_per_s"].as_f64().unwrap_or(0.0) / x["decode_tokens_per_s"].as_f64().unwrap_or(f64::NAN),
            "prefill": m["prefill_tokens_per_s"].as_f64().unwrap_or(0.0) / x["prefill_tokens_per_s"].as_f64().unwrap_or(f64::NAN),
        });
    }
    let result = serde_json::json!({"model": model, "oxbitnet": ox_v, "tritium": tr_v, "speedup": speedup});

    println!("tritium vs oxbitnet 0.5.2: random BitNet-shaped model, {} layers, hidden {}, FFN {}, {}/{} heads, vocab {} ({:.0} M ternary weights)",
        o.layers, o.hidden, o.ffn, o.heads, o.kv_heads, o.vocab, ternary as f64 / 1e6);
    println!("  oxbitnet adapter: {}", result["oxbitnet"]["adapter"].as_str().unwrap_or("-"));
    println!("  tritium adapter:  {}", result["tritium"]["adapter"].as_str().unwrap_or("-"));
    println!("  {:<10} {:>16} {:>16}", "engine", "prefill tok/s", "decode tok/s");
    match &ox {
        Ok(x) => println!(
            "  {:<10} {:>16.2} {:>16.3}",
            "oxbitnet",
            x["prefill_tokens_per_s"].as_f64().unwrap_or(0.0),
            x["decode_tokens_per_s"].as_f64().unwrap_or(0.0)
        ),
        Err(e) => println!("  oxbitnet   error: {e}"),
    }
    match &tr {
        Ok(t) => println!(
            "  {:<10} {:>16.2} {:>16.3}",
            "tritium",
            t["model"]["prefill_tokens_per_s"].as_f64().unwrap_or(0.0),
            t["model"]["decode_tokens_per_s"].as_f64().unwrap_or(0.0)
        ),
        Err(e) => println!("  tritium    error: {e}"),
    }
    if let Ok(t) = &tr {
        println!("  tritium TQ2_0 kernels (batch 1, timestamp queries when granted):");
        for k in t["kernels"].as_array().into_iter().flatten() {
            println!(
                "    {:>12} {:>10.3} ms ({})",
                format!("{}x{}", k["rows"], k["cols"]),
                k["ms"].as_f64().unwrap_or(0.0),
                k["timer"].as_str().unwrap_or("-")
            );
        }
    }
    if !speedup.is_null() {
        println!(
            "  speedup (tritium / oxbitnet): decode {:.2}×, prefill {:.2}×",
            speedup["decode"].as_f64().unwrap_or(0.0),
            speedup["prefill"].as_f64().unwrap_or(0.0)
        );
    }
    let _ = std::fs::write(o.out.join("result.json"), serde_json::to_string_pretty(&result).unwrap_or_default());
    println!("{result}");
    if ox.is_err() || tr.is_err() {
        std::process::exit(1);
    }
}
