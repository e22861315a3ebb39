//! The kernel trail: every WGSL file in shaders/ is in the typed registry under its own name and
//! nothing else is; every pipeline label starts with the file that defines it; a weight format
//! with no kernel is an error, not an empty shader. And the model graph: the layer every
//! architecture builds passes its checks, and a broken one is refused.

use std::collections::BTreeSet;

use tritium::backend::gpu::kernels::{Kernel, Shader, Tile};
use tritium::model::graph::{Act, LayerGraph, Linear, Norm, Op};
use tritium::quant::GgmlType;

#[test]
fn registry_names_every_shader_file_once() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let files: BTreeSet<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".wgsl").map(String::from))
        .collect();
    let registry: BTreeSet<String> = Shader::ALL.iter().map(|s| s.name().to_string()).collect();
    assert_eq!(Shader::ALL.len(), registry.len(), "a shader name appears twice in the registry");
    assert_eq!(files, registry, "shaders/ and the registry differ");
    for s in Shader::ALL {
        assert!(s.source().starts_with("// "), "shaders/{}.wgsl needs a header comment", s.name());
    }
}

#[test]
fn pipeline_labels_start_with_their_shader_file() {
    use tritium::backend::gpu::kernels::{format_source, i8_source};
    for k in Kernel::all() {
        let name = k.name();
        // The file that defines the kernel: the plain shader, the format's load file (the int8
        // unit file for int8 tiles), or embed.wgsl joined with the format's load file.
        let (first, file) = match &k {
            Kernel::Plain(s) => (*s, *s),
            Kernel::Matmul(t, tile) if tile.i8 => (i8_source(*t).unwrap().0, i8_source(*t).unwrap().0),
            Kernel::Matmul(t, _) => (format_source(*t).unwrap().0, format_source(*t).unwrap().0),
            Kernel::Embed(t) => (Shader::Embed, format_source(*t).unwrap().0),
        };
        assert!(name.starts_with(first.name()), "{name}: expected to start with {}", first.name());
        assert!(name.contains(file.name()), "{name}: expected to name {}", file.name());
    }
    // TQ2_0 is served by the trit-plane file: its label says so.
    let tq2 = Kernel::Matmul(GgmlType::TQ2_0, Tile::new(8, 8, 1)).name();
    assert_eq!(tq2, "matmul_tp.tq2_0_8x8x1");
    assert_eq!(Kernel::Matmul(GgmlType::Q4_1, Tile::new(8, 8, 1)).name(), "matmul_q4_1_8x8x1");
}

#[test]
fn a_format_without_a_kernel_is_an_error() {
    for ty in [GgmlType::I8, GgmlType::I32] {
        let err = Kernel::Matmul(ty, Tile::new(8, 8, 1)).source().unwrap_err().to_string();
        assert!(err.contains(ty.name()), "{err}");
        assert!(Kernel::Embed(ty).source().is_err());
    }
}

#[test]
fn layer_graph_checks() {
    let m = tritium::model::Model::from_gguf_bytes(tritium::model::synthetic::tiny_llama_gguf(1)).unwrap();
    let cfg = m.config.clone();
    let g = tritium::model::arch::layer_graph(&cfg).unwrap();
    assert_eq!(g.ops.iter().filter(|o| matches!(o, Op::KvAppend { .. })).count(), 1);
    // Attention before the KV append, a read of an activation nothing wrote, two KV appends.
    let attn_first = vec![
        Op::RmsNorm { norm: Norm::Attn, input: Act::X, out: Act::Xn },
        Op::Linears { input: Act::Xn, outs: vec![(Linear::Q, Act::Q), (Linear::K, Act::K), (Linear::V, Act::V)] },
        Op::Attention { q: Act::Q, out: Act::Att },
        Op::KvAppend { k: Act::K, v: Act::V },
    ];
    assert!(LayerGraph::new(attn_first).unwrap_err().to_string().contains("attention before the KV append"));
    let unwritten = vec![Op::Linears { input: Act::Gate, outs: vec![(Linear::Down, Act::Proj)] }];
    assert!(LayerGraph::new(unwritten).unwrap_err().to_string().contains("reads Gate"));
    let in_place = vec![
        Op::RmsNorm { norm: Norm::Attn, input: Act::X, out: Act::Xn },
        Op::Linears { input: Act::Xn, outs: vec![(Linear::Q, Act::Xn)] },
    ];
    assert!(LayerGraph::new(in_place).unwrap_err().to_string().contains("reads and writes Xn"));
    let mut twice = g.ops.clone();
    twice.push(Op::KvAppend { k: Act::K, v: Act::V });
    assert!(LayerGraph::new(twice).unwrap_err().to_string().contains("2 KV appends"));
    let mut unsupported = cfg.clone();
    unsupported.architecture = "gpt-neox".into();
    assert!(tritium::model::arch::layer_graph(&unsupported).unwrap_err().to_string().contains("gpt-neox"));
}
