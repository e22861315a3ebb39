//! AutoAWQ GEMM checkpoint folders ↔ [`Model`]: loading (the folder's tensors converted to a
//! GGUF by [`crate::format::awq`], its tokenizer.json) and saving a model whose decoder linears
//! are all AWQ int4 as a folder that AutoAWQ / transformers load.

use std::collections::BTreeMap;

use half::f16;
use serde_json::{json, Value as Json};

use crate::error::{Error, Result};
use crate::format::awq::{folder_config, folder_to_gguf, gguf_to_hf_rows, required, INDEX_FILE, LINEARS, SINGLE_FILE};
use crate::format::hf::AwqConfig;
use crate::format::safetensors::{self, Dtype, SafetensorsWriter};
use crate::model::graph::Norm;
use crate::model::{Model, Weight};
use crate::quant::{self, awq as q4, GgmlType};
use crate::tokenizer::Tokenizer;

/// Convert an AutoAWQ GEMM (or plain fp16/bf16/fp32 HF Llama) checkpoint folder, given as file
/// name → bytes, into an in-memory GGUF with tritium's naming, plus its tokenizer.
pub fn awq_folder_to_gguf(files: &BTreeMap<String, Vec<u8>>) -> Result<(Vec<u8>, Tokenizer)> {
    let cfg = folder_config(files)?;
    let tokenizer = Tokenizer::from_tokenizer_json(
        required(files, "tokenizer.json")?,
        files.get("tokenizer_config.json").map(|v| v.as_slice()),
    )?;
    Ok((folder_to_gguf(files, &cfg)?, tokenizer))
}

/// Load an AutoAWQ GEMM (or plain HF Llama) checkpoint folder as a [`Model`].
pub fn load_awq_folder(files: &BTreeMap<String, Vec<u8>>) -> Result<Model> {
    let (gguf, tokenizer) = awq_folder_to_gguf(files)?;
    Model::from_gguf_bytes_with(gguf, Some(tokenizer))
}

/// A float vector as F16 when every value survives the round trip, else F32 (norms are tiny;
/// keeping them exact costs nothing).
fn exact_floats(v: &[f32]) -> (Dtype, Vec<u8>) {
    let dtype = if v.iter().all(|&x| f16::from_f32(x).to_f32() == x) { Dtype::F16 } else { Dtype::F32 };
    (dtype, safetensors::encode_floats(dtype, v).expect("F16 or F32"))
}

/// A tensor to write: name, dtype, row-major shape, bytes.
type StEntry = (String, Dtype, Vec<u64>, Vec<u8>);

fn dequantized(model: &Model, w: &Weight) -> Result<Vec<f32>> {
    let m = model.matrix(w);
    quant::dequantize_vec(m.ty, m.data, w.rows * w.cols)
}

/// Save a model whose decoder linears are all `AWQ4_G*` (one group size) as an AutoAWQ GEMM
/// checkpoint folder: `(file name, bytes)` for config.json, generation_config.json, the
/// safetensors file(s) (sharded into `model-0000i-of-0000n.safetensors` + index when the tensors
/// exceed `max_shard_bytes`), tokenizer.json and tokenizer_config.json.
///
/// The embedding (and lm_head when the output is not tied) is written as F16, dequantized from
/// whatever type the model holds; norms as F16 when exactly representable, else F32.
pub fn model_to_awq_folder(model: &Model, max_shard_bytes: Option<u64>) -> Result<Vec<(String, Vec<u8>)>> {
    let c = &model.config;
    let tok = model.tokenizer();
    let mut cfg = c.to_hf(model.tied_output, tok.bos_id(), tok.eos_id())?;

    // One AWQ group size over every decoder linear.
    let mut group: Option<(usize, &str)> = None;
    for l in &model.layers {
        for w in [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down] {
            let g = w.ty.group().filter(|&g| GgmlType::awq4(g) == Some(w.ty)).ok_or_else(|| {
                Error::UnsupportedModel(format!(
                    "{} is {}; an AutoAWQ folder needs every decoder linear in AWQ int4 (AWQ4_G32, AWQ4_G64 or \
                     AWQ4_G128): quantize the model to AWQ first",
                    w.name,
                    w.ty.name()
                ))
            })?;
            match group {
                None => group = Some((g, &w.name)),
                Some((g0, first)) if g0 != g => {
                    return Err(Error::UnsupportedModel(format!(
                        "{} has group size {g} but {first} has {g0}; an AutoAWQ quantization_config has one group_size",
                        w.name
                    )))
                }
                _ => {}
            }
        }
    }
    let (group, _) = group.ok_or_else(|| Error::UnsupportedModel("the model has no decoder layers".into()))?;
    cfg.awq = Some(AwqConfig::gemm(group));

    let mut tensors: Vec<StEntry> = Vec::new();
    let f16_matrix =
        |w: &Weight| -> Result<Vec<u8>> { safetensors::encode_floats(Dtype::F16, &dequantized(model, w)?) };
    let shape2 = |w: &Weight| vec![w.rows as u64, w.cols as u64];
    tensors.push((
        "model.embed_tokens.weight".into(),
        Dtype::F16,
        shape2(&model.token_embd),
        f16_matrix(&model.token_embd)?,
    ));
    for (li, l) in model.layers.iter().enumerate() {
        let p = |s: &str| format!("model.layers.{li}.{s}");
        let (dt, b) = exact_floats(l.norm(Norm::Attn));
        tensors.push((p("input_layernorm.weight"), dt, vec![l.norm(Norm::Attn).len() as u64], b));
        let ws = [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down];
        let qwen2 = c.architecture == "qwen2";
        for (i, (w, (hname, _, permute))) in ws.into_iter().zip(LINEARS).enumerate() {
            let m = model.matrix(w);
            let mut lin = q4::Int4Linear::from_blocks(w.ty, w.rows, w.cols, m.data);
            // Qwen 2's GGUF keeps HF's row order (RoPE over halves) and its biases.
            if let Some(b) = l.biases[i].as_deref() {
                let (dt, bytes) = exact_floats(b);
                tensors.push((p(&format!("{hname}.bias")), dt, vec![b.len() as u64], bytes));
            }
            if permute && !qwen2 {
                lin = lin.permute_rows(&gguf_to_hf_rows(w.rows, c.head_dim));
            }
            let t = q4::pack_gemm(&lin)?;
            let (n, k, g) = (w.rows as u64, w.cols as u64, (w.cols / group) as u64);
            tensors.push((
                p(&format!("{hname}.qweight")),
                Dtype::I32,
                vec![k, n / 8],
                safetensors::encode_words(&t.qweight),
            ));
            tensors.push((
                p(&format!("{hname}.qzeros")),
                Dtype::I32,
                vec![g, n / 8],
                safetensors::encode_words(&t.qzeros),
            ));
            let sc: Vec<u8> = t.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
            tensors.push((p(&format!("{hname}.scales")), Dtype::F16, vec![g, n], sc));
        }
        let (dt, b) = exact_floats(l.norm(Norm::Ffn));
        tensors.push((p("post_attention_layernorm.weight"), dt, vec![l.norm(Norm::Ffn).len() as u64], b));
    }
    let (dt, b) = exact_floats(&model.output_norm);
    tensors.push(("model.norm.weight".into(), dt, vec![model.output_norm.len() as u64], b));
    if !model.tied_output {
        tensors.push(("lm_head.weight".into(), Dtype::F16, shape2(&model.output), f16_matrix(&model.output)?));
    }

    // Shards: greedy, in tensor order; a tensor larger than the limit gets a shard of its own.
    let total: u64 = tensors.iter().map(|t| t.3.len() as u64).sum();
    let mut shards: Vec<Vec<StEntry>> = vec![Vec::new()];
    let limit = max_shard_bytes.filter(|&m| total > m);
    if let Some(max) = limit {
        let mut size = 0u64;
        for t in tensors {
            let len = t.3.len() as u64;
            if size > 0 && size + len > max {
                shards.push(Vec::new());
                size = 0;
            }
            size += len;
            shards.last_mut().unwrap().push(t);
        }
    } else {
        shards[0] = tensors;
    }
    let mut out = Vec::new();
    out.push(("config.json".to_string(), pretty(&cfg.to_json())));
    let mut gen = json!({ "_from_model_config": true });
    if let Some(b) = tok.bos_id() {
        gen["bos_token_id"] = json!(b);
    }
    if let Some(e) = tok.eos_id() {
        gen["eos_token_id"] = json!(e);
    }
    out.push(("generation_config.json".to_string(), pretty(&gen)));
    let n_shards = shards.len();
    let mut weight_map = serde_json::Map::new();
    for (i, shard) in shards.into_iter().enumerate() {
        let file = if n_shards == 1 {
            SINGLE_FILE.to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", i + 1, n_shards)
        };
        let mut w = SafetensorsWriter::new();
        w.set_metadata("format", "pt");
        for (name, dtype, shape, data) in shard {
            weight_map.insert(name.clone(), json!(file));
            w.add(&name, dtype, &shape, data)?;
        }
        out.push((file, w.to_bytes()));
    }
    if n_shards > 1 {
        let index = json!({ "metadata": { "total_size": total }, "weight_map": weight_map });
        out.push((INDEX_FILE.to_string(), pretty(&index)));
    }
    out.push(("tokenizer.json".to_string(), tokenizer_json(tok)?));
    out.push(("tokenizer_config.json".to_string(), pretty(&tokenizer_config(tok, c.context_length))));
    Ok(out)
}

fn pretty(v: &Json) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("JSON values serialize");
    b.push(b'\n');
    b
}

/// tokenizer.json of the model's tokenizer. tritium adds BOS/EOS itself (the HF tokenizer it
/// holds has no post-processor), so a TemplateProcessing post-processor is written when the
/// model adds them, for HF loaders.
fn tokenizer_json(tok: &Tokenizer) -> Result<Vec<u8>> {
    let s = tok.hf()?.to_string(false).map_err(|e| Error::Tokenizer(format!("serializing tokenizer.json: {e}")))?;
    let mut v: Json = serde_json::from_str(&s).map_err(|e| Error::Tokenizer(format!("tokenizer.json: {e}")))?;
    let special =
        |id: Option<u32>, on: bool| id.filter(|_| on).and_then(|i| tok.token_text(i).map(|t| (i, t.to_string())));
    let (bos, eos) = (special(tok.bos_id(), tok.add_bos()), special(tok.eos_id(), tok.add_eos()));
    if bos.is_some() || eos.is_some() {
        let mut single = Vec::new();
        let mut pair = Vec::new();
        let mut specials = serde_json::Map::new();
        let sp = |t: &str| json!({ "SpecialToken": { "id": t, "type_id": 0 } });
        let seq = |s: &str, ty: u32| json!({ "Sequence": { "id": s, "type_id": ty } });
        if let Some((i, t)) = &bos {
            single.push(sp(t));
            specials.insert(t.clone(), json!({ "id": t, "ids": [i], "tokens": [t] }));
        }
        single.push(seq("A", 0));
        if let Some((i, t)) = &eos {
            single.push(sp(t));
            specials.insert(t.clone(), json!({ "id": t, "ids": [i], "tokens": [t] }));
        }
        pair.extend(single.iter().cloned());
        if let Some((_, t)) = &bos {
            pair.push(sp(t));
        }
        pair.push(seq("B", 1));
        if let Some((_, t)) = &eos {
            pair.push(sp(t));
        }
        v["post_processor"] =
            json!({ "type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials });
    }
    Ok(serde_json::to_vec(&v).expect("JSON values serialize"))
}

fn tokenizer_config(tok: &Tokenizer, max_len: usize) -> Json {
    let text = |id: Option<u32>| id.and_then(|i| tok.token_text(i)).map_or(Json::Null, |t| json!(t));
    let mut v = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": tok.add_bos(),
        "add_eos_token": tok.add_eos(),
        "bos_token": text(tok.bos_id()),
        "eos_token": text(tok.eos_id()),
        "unk_token": text(tok.unk_id()),
        "pad_token": text(tok.pad_id()),
        "clean_up_tokenization_spaces": false,
        "model_max_length": max_len,
    });
    if let Some(t) = tok.chat_template() {
        v["chat_template"] = json!(t);
    }
    v
}
