//! Tokenizers of the model families beyond the default model's: SentencePiece-style GGUF
//! vocabularies (Llama 2, Mistral, Gemma, Phi-3) against Google's `sentencepiece`, the BPE
//! pre-tokenizers named by `tokenizer.ggml.pre` against HF `tokenizers` with the families' own
//! split regexes, and the families' chat templates against Jinja2. The Python side runs in
//! tests/.venv (tests/py/ensure_venv.sh).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use tritium::format::gguf::{GgufFile, GgufWriter, Value, ValueType};
use tritium::tokenizer::{ChatMessage, StreamDecoder, Tokenizer};
use tritium::Error;

use crate::common::{model_path, python, root, tmp_dir};

fn run_py(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let mut cmd = Command::new(python(&["jinja2", "sentencepiece"]));
    for a in args {
        cmd.arg(a);
    }
    let out = cmd.output().expect("running python");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "python {:?} failed: {}", cmd.get_args().collect::<Vec<_>>(), out.status);
}

fn read_jsonl_strings(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// (ids, text) per line of a reference's output.
fn read_refs(path: &Path) -> Vec<(Vec<u32>, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let ids = v["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
            (ids, v["text"].as_str().unwrap().to_string())
        })
        .collect()
}

/// The tokenizer agreement corpus (tests/py/tok_make_corpus.py).
fn corpus() -> &'static (std::path::PathBuf, Vec<String>) {
    static C: OnceLock<(std::path::PathBuf, Vec<String>)> = OnceLock::new();
    C.get_or_init(|| {
        let path = tmp_dir("tokenizer_families").join("corpus.jsonl");
        run_py(&[&root().join("tests/py/tok_make_corpus.py"), &path]);
        let texts = read_jsonl_strings(&path);
        assert!(texts.len() >= 2000, "corpus too small: {} lines", texts.len());
        (path, texts)
    })
}

/// Reference output: (ids, decoded text) per corpus line.
type Refs = Vec<(Vec<u32>, String)>;
type Metadata = Vec<(String, Value)>;

/// A SentencePiece BPE model trained on the corpus, as GGUF, and sentencepiece's own encodings.
fn spm() -> &'static (Tokenizer, Vec<u8>, Refs) {
    static S: OnceLock<(Tokenizer, Vec<u8>, Refs)> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tmp_dir("tokenizer_families").join("spm");
        run_py(&[&root().join("tests/py/spm_ref.py"), &corpus().0, &dir]);
        let bytes = std::fs::read(dir.join("spm.gguf")).unwrap();
        let tok = Tokenizer::from_gguf(&GgufFile::parse(&bytes).unwrap()).expect("SentencePiece GGUF vocabulary");
        let refs = read_refs(&dir.join("spm_ref.jsonl"));
        assert_eq!(refs.len(), corpus().1.len());
        (tok, bytes, refs)
    })
}

fn show(tok: &Tokenizer, ids: &[u32]) -> String {
    ids.iter().map(|&i| format!("{i}:{:?}", tok.token_text(i).unwrap_or("?"))).collect::<Vec<_>>().join(" ")
}

/// Encode every corpus line and compare ids (and decoded text) with a reference. `normalizes`:
/// the tokenizer NFC-normalizes its input (Qwen2), so decoding need not give the text back.
fn compare(tok: &Tokenizer, refs: &[(Vec<u32>, String)], what: &str, normalizes: bool) {
    let texts = &corpus().1;
    let (mut bad_ids, mut bad_text, mut bad_trip, mut tokens) = (0, 0, 0, 0);
    for (i, (text, (ref_ids, ref_text))) in texts.iter().zip(refs).enumerate() {
        let ids = tok.encode(text, false).unwrap();
        tokens += ids.len();
        if &ids != ref_ids {
            bad_ids += 1;
            if bad_ids <= 5 {
                let at = ids.iter().zip(ref_ids).position(|(a, b)| a != b).unwrap_or(ids.len().min(ref_ids.len()));
                let lo = at.saturating_sub(3);
                eprintln!(
                    "{what} MISMATCH line {i}: {text:?}\n  ours: {}\n  ref:  {}",
                    show(tok, &ids[lo..(at + 4).min(ids.len())]),
                    show(tok, &ref_ids[lo..(at + 4).min(ref_ids.len())])
                );
            }
        }
        let dec = tok.decode(&ids).unwrap();
        if dec != *ref_text {
            bad_text += 1;
            if bad_text <= 3 {
                eprintln!("{what} DECODE line {i}: ours {dec:?}, ref {ref_text:?}");
            }
        }
        bad_trip += (dec != *text) as usize;
        let mut sd = StreamDecoder::at_start();
        let mut streamed = String::new();
        for &id in &ids {
            streamed.push_str(&sd.push(tok, id).unwrap());
        }
        streamed.push_str(&sd.finish(tok).unwrap());
        assert_eq!(streamed, dec, "{what}: streamed decoding differs on line {i}");
    }
    eprintln!(
        "{what}: {} lines, {tokens} tokens, {bad_ids} id mismatches, {bad_text} decode mismatches, \
         {bad_trip} round-trip failures",
        texts.len()
    );
    assert_eq!(bad_ids, 0, "{what}: token ids differ on {bad_ids} lines");
    assert_eq!(bad_text, 0, "{what}: decoded text differs on {bad_text} lines");
    if normalizes {
        assert!(bad_trip > 0 && bad_trip < texts.len() / 20, "{what}: {bad_trip} lines changed by NFC");
    } else {
        assert_eq!(bad_trip, 0, "{what}: decode(encode(x)) != x on {bad_trip} lines");
    }
}

#[test]
fn spm_agrees_with_sentencepiece_on_corpus() {
    let (tok, _, refs) = spm();
    let s = tok.summary();
    assert_eq!((s.model.as_str(), s.pre.as_str(), s.merges), ("llama", "spm", 0));
    assert_eq!((tok.bos_id(), tok.eos_id(), tok.unk_id()), (Some(1), Some(2), Some(0)));
    assert!(tok.add_bos() && tok.add_space_prefix());
    assert_eq!(tok.token_text(3), Some("<0x00>"));
    assert_eq!(tok.token_bytes(3 + 0x0A), Some(&b"\n"[..]));
    compare(tok, refs, "SentencePiece", false);
    // Byte fallback was exercised: some line has a character outside the vocabulary.
    let bytes_used = refs.iter().flat_map(|(ids, _)| ids).filter(|&&i| (3..259).contains(&i)).count();
    assert!(bytes_used > 100, "only {bytes_used} byte-fallback tokens in the corpus");
}

#[test]
fn spm_specials_prefix_and_metadata() {
    let (tok, bytes, _) = spm();
    let hi = tok.encode("Hi there", false).unwrap();
    assert_eq!(tok.token_text(hi[0]).map(|t| t.starts_with('▁')), Some(true), "{}", show(tok, &hi));
    assert_eq!(tok.encode("Hi there", true).unwrap()[1..], hi[..]);
    assert_eq!(tok.encode("Hi there", true).unwrap()[0], 1);
    // A control token in the text is one id, and the text after it gets the ▁ prefix again
    // (llama.cpp: the prefix follows every special token).
    let ids = tok.encode("<s>Hi there</s>", false).unwrap();
    assert_eq!(ids[0], 1);
    assert_eq!(ids[1..ids.len() - 1], hi[..], "{}", show(tok, &ids));
    assert_eq!(ids[ids.len() - 1], 2);
    // Decoding: the first token's prefix space is dropped, specials are shown, a stream that
    // continues a prompt keeps its first space.
    assert_eq!(tok.decode(&hi).unwrap(), "Hi there");
    assert_eq!(tok.decode(&ids).unwrap(), "<s> Hi there</s>");
    let mut sd = StreamDecoder::new();
    assert_eq!(sd.push(tok, hi[0]).unwrap(), format!(" {}", tok.decode(&hi[..1]).unwrap()));
    assert!(tok.decode(&[u32::MAX]).is_err());

    // Metadata variants of the same vocabulary.
    let g = GgufFile::parse(bytes).unwrap();
    let with = |edit: &dyn Fn(&mut Metadata)| {
        let mut md: Metadata = g.metadata.clone();
        edit(&mut md);
        Tokenizer::from_gguf(&GgufFile::parse(&GgufWriter::with_metadata(md).to_bytes()).unwrap())
    };
    let set = |md: &mut Metadata, key: &str, v: Option<Value>| {
        md.retain(|(k, _)| k != key);
        md.extend(v.map(|v| (key.to_string(), v)));
    };
    let no_prefix = with(&|md| set(md, "tokenizer.ggml.add_space_prefix", Some(Value::Bool(false)))).unwrap();
    assert!(!no_prefix.add_space_prefix());
    let ids = no_prefix.encode("Hi there", false).unwrap();
    assert_ne!(ids, hi);
    assert!(!no_prefix.token_text(ids[0]).unwrap().starts_with('▁'), "{}", show(&no_prefix, &ids));
    assert_eq!(no_prefix.decode(&ids).unwrap(), "Hi there");
    assert_eq!(no_prefix.decode(&hi).unwrap(), " Hi there");
    // Without scores nothing merges by preference, but text still round-trips.
    let flat = with(&|md| set(md, "tokenizer.ggml.scores", None)).unwrap();
    assert_eq!(flat.decode(&flat.encode("Hi there", false).unwrap()).unwrap(), "Hi there");
    // Missing BOS/EOS ids: llama.cpp's defaults 1 and 2.
    let dflt = with(&|md| {
        set(md, "tokenizer.ggml.bos_token_id", None);
        set(md, "tokenizer.ggml.eos_token_id", None)
    })
    .unwrap();
    assert_eq!((dflt.bos_id(), dflt.eos_id()), (Some(1), Some(2)));

    let e = with(&|md| set(md, "tokenizer.ggml.scores", Some(Value::Array(ValueType::F32, vec![Value::F32(0.0)]))))
        .unwrap_err();
    assert!(matches!(&e, Error::Tokenizer(m) if m.contains("tokenizer.ggml.scores")), "{e}");
    let e = with(&|md| set(md, "tokenizer.ggml.model", Some(Value::String("t5".into())))).unwrap_err();
    assert_eq!(e.code(), "E_UNSUPPORTED_MODEL");
    assert!(e.to_string().contains("\"t5\"") && e.to_string().contains("llama"), "{e}");
}

/// The default model's tokenizer metadata with `tokenizer.ggml.pre` replaced, as a GGUF file.
fn default_vocab_with_pre(pre: &str) -> (Tokenizer, std::path::PathBuf) {
    let bytes = std::fs::read(model_path()).unwrap();
    let g = GgufFile::parse(&bytes).unwrap();
    let mut md: Vec<(String, Value)> = g
        .metadata
        .iter()
        .filter(|(k, _)| k.starts_with("tokenizer.ggml.") && k != "tokenizer.ggml.pre")
        .cloned()
        .collect();
    md.push(("tokenizer.ggml.pre".into(), Value::String(pre.into())));
    let out = GgufWriter::with_metadata(md).to_bytes();
    let path = tmp_dir("tokenizer_families").join(format!("vocab_{pre}.gguf"));
    std::fs::write(&path, &out).unwrap();
    (Tokenizer::from_gguf(&GgufFile::parse(&out).unwrap()).unwrap(), path)
}

#[test]
fn bpe_pre_tokenizers_agree_with_hf_tokenizers() {
    for pre in ["llama-bpe", "qwen2", "gpt2"] {
        let (tok, path) = default_vocab_with_pre(pre);
        assert_eq!(tok.summary().pre, pre);
        let out = tmp_dir("tokenizer_families").join(format!("ref_{pre}.jsonl"));
        run_py(&[&root().join("tests/py/hf_tokenizer_ref.py"), &"encode", &path, &corpus().0, &out]);
        compare(&tok, &read_refs(&out), pre, pre == "qwen2");
    }
    // An unknown name is refused with the list of known ones.
    let e = tritium::tokenizer::PreKind::from_name("no-such-pre").unwrap_err();
    assert_eq!(e.code(), "E_UNSUPPORTED_MODEL");
    assert!(e.to_string().contains("'no-such-pre'") && e.to_string().contains("llama-bpe"), "{e}");
}

/// A tiny SentencePiece vocabulary whose BOS/EOS texts are a family's, to render its template.
fn family_tokenizer(bos: &str, eos: &str) -> Tokenizer {
    let tokens = ["<unk>", bos, eos, "▁"];
    let strs = Value::Array(ValueType::String, tokens.iter().map(|s| Value::String(s.to_string())).collect());
    let md = vec![
        ("tokenizer.ggml.model".to_string(), Value::String("llama".into())),
        ("tokenizer.ggml.tokens".to_string(), strs),
        ("tokenizer.ggml.token_type".to_string(), Value::Array(ValueType::I32, [2, 3, 3, 1].map(Value::I32).to_vec())),
    ];
    Tokenizer::from_gguf(&GgufFile::parse(&GgufWriter::with_metadata(md).to_bytes()).unwrap()).unwrap()
}

#[test]
fn family_chat_templates_agree_with_jinja2() {
    let data: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("tests/data/chat_templates.json")).unwrap()).unwrap();
    let m = |r: &str, c: &str| ChatMessage::new(r, c);
    let convos: Vec<Vec<ChatMessage>> = vec![
        vec![m("user", "Hello! What's 2+2?")],
        vec![m("system", "  You are terse.  "), m("user", "Hi"), m("assistant", " Hello. "), m("user", "Bye\n")],
        vec![m("user", "Hi"), m("assistant", "Yo"), m("user", "猫 🐱 — ok?")],
        vec![m("assistant", "I start"), m("user", "x")],
        vec![m("user", "a"), m("user", "b")],
        vec![m("system", "S"), m("user", "q"), m("tool", "{\"r\": 1}"), m("tool", "2"), m("user", "z")],
    ];
    let mut cases = Vec::new();
    for t in data["templates"].as_array().unwrap() {
        for (ci, msgs) in convos.iter().enumerate() {
            for gen in [true, false] {
                cases.push((t, ci, msgs, gen));
            }
        }
    }
    let json: Vec<serde_json::Value> = cases
        .iter()
        .map(|(t, _, msgs, gen)| {
            serde_json::json!({"template": t["template"], "messages": msgs, "add_generation_prompt": gen,
                               "bos_token": t["bos_token"], "eos_token": t["eos_token"]})
        })
        .collect();
    let dir = tmp_dir("tokenizer_families");
    let (cases_path, out_path) = (dir.join("family_chat_cases.json"), dir.join("family_chat_ref.json"));
    std::fs::write(&cases_path, serde_json::to_vec(&json).unwrap()).unwrap();
    run_py(&[&root().join("tests/py/hf_tokenizer_ref.py"), &"chat", &cases_path, &out_path]);
    let refs: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(refs.len(), cases.len());
    let (mut rendered, mut refused) = (0, 0);
    for ((t, ci, msgs, gen), r) in cases.iter().zip(&refs) {
        let name = t["name"].as_str().unwrap();
        let tok = family_tokenizer(t["bos_token"].as_str().unwrap(), t["eos_token"].as_str().unwrap());
        let ours = tok.apply_chat_template_with(t["template"].as_str().unwrap(), msgs, *gen);
        match (&ours, r["text"].as_str()) {
            (Ok(a), Some(b)) => {
                assert_eq!(a, b, "{name}, conversation {ci}, generation prompt {gen}: minijinja vs jinja2");
                rendered += 1;
            }
            (Err(e), None) => {
                assert!(matches!(e, Error::Template(_)), "{name}: {e}");
                refused += 1;
            }
            _ => panic!("{name}, conversation {ci}, generation prompt {gen}: ours {ours:?}, jinja2 {r}"),
        }
    }
    eprintln!("family chat templates: {rendered} rendered alike, {refused} refused by both");
    assert!(rendered >= 40 && refused >= 4, "{rendered} rendered, {refused} refused");
}
