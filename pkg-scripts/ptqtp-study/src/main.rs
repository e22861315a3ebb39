//! PTQTP design study on real weights: for layers 0, 15 and 29 of the default model (attn_q,
//! attn_v, ffn_down), the relative Frobenius error ‖W − Ŵ‖ / ‖W‖ and the time per matrix (one
//! thread) of every PTQTP variant (group size, start, λ, rounds, ties, scale rounding) and of
//! the baselines (absmean ternary, RTN int4); then the rounds each start needs per g64 group.
//! It measures, it does not check: a benchmark, not a test.
//!
//!   cargo run --release --manifest-path pkg-scripts/ptqtp-study/Cargo.toml -- \
//!       [MODEL.gguf] [--out target/bench/ptqtp-study.json] [--table FILE.md]

use std::path::PathBuf;
use std::time::Instant;

use half::f16;
use serde_json::json;
use tritium::model::Model;
use tritium::quant::ternary::{self, PtqtpInit, PtqtpOptions, ScaleRounding, TernaryMethod, TieRule};
use tritium::quant::{self, GgmlType};

/// One quantizer under study: dequantized matrix from a `[rows, cols]` matrix (None: the shape
/// does not fit it).
type Quantizer = Box<dyn Fn(&[f32], usize, usize) -> Option<Vec<f32>>>;

/// PTQTP per group of `g` (0 = whole row) with `opts`, dequantized.
fn ptqtp_dense(w: &[f32], cols: usize, g: usize, opts: &PtqtpOptions) -> Option<Vec<f32>> {
    let g = if g == 0 { cols } else { g };
    if cols % g != 0 {
        return None;
    }
    let (mut t1, mut t2) = (vec![0i8; g], vec![0i8; g]);
    let mut out = vec![0f32; w.len()];
    for (wg, o) in w.chunks(g).zip(out.chunks_mut(g)) {
        let fit = ternary::ptqtp_group_with(wg, &mut t1, &mut t2, opts);
        for i in 0..g {
            o[i] = fit.a1 * t1[i] as f32 + fit.a2 * t2[i] as f32;
        }
    }
    Some(out)
}

fn ptqtp_reference_dense(w: &[f32], cols: usize, g: usize) -> Option<Vec<f32>> {
    if cols % g != 0 {
        return None;
    }
    let (mut t1, mut t2) = (vec![0i8; g], vec![0i8; g]);
    let mut out = vec![0f32; w.len()];
    for (wg, o) in w.chunks(g).zip(out.chunks_mut(g)) {
        let (a1, a2, _) = ternary::ptqtp_group(wg, &mut t1, &mut t2, 50, 1e-6);
        let (a1, a2) = (f16::from_f32(a1).to_f32(), f16::from_f32(a2).to_f32());
        for i in 0..g {
            o[i] = a1 * t1[i] as f32 + a2 * t2[i] as f32;
        }
    }
    Some(out)
}

fn via_type(ty: GgmlType) -> Quantizer {
    Box::new(move |w, _rows, cols| {
        if cols % ty.block_size() != 0 {
            return None;
        }
        quant::dequantize_vec(ty, &quant::quantize(ty, w).ok()?, w.len()).ok()
    })
}

fn via_method(m: TernaryMethod) -> Quantizer {
    Box::new(move |w, rows, cols| {
        let (ty, b) = ternary::quantize_matrix_ternary(w, rows, cols, m).ok()?;
        quant::dequantize_vec(ty, &b, w.len()).ok()
    })
}

fn ptqtp(g: usize, opts: PtqtpOptions) -> Quantizer {
    Box::new(move |w, _rows, cols| ptqtp_dense(w, cols, g, &opts))
}

fn die(msg: String) -> ! {
    eprintln!("ptqtp-study: error: {msg}");
    std::process::exit(1)
}

fn main() {
    let mut model_path = PathBuf::from("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let mut out = PathBuf::from("target/bench/ptqtp-study.json");
    let mut table_out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().map(PathBuf::from).unwrap_or_else(|| die("--out needs a path".into())),
            "--table" => {
                table_out = Some(args.next().map(PathBuf::from).unwrap_or_else(|| die("--table needs a path".into())))
            }
            "-h" | "--help" => {
                println!("usage: ptqtp-study [MODEL.gguf] [--out FILE.json] [--table FILE.md]");
                return;
            }
            s if s.starts_with('-') => die(format!("unknown option {s}")),
            s => model_path = PathBuf::from(s),
        }
    }
    let model = Model::from_path(&model_path).unwrap_or_else(|e| die(format!("{}: {e}", model_path.display())));
    let mut mats: Vec<(String, usize, usize, Vec<f32>)> = Vec::new();
    for l in [0usize, 15, 29] {
        let Some(lw) = model.layers.get(l) else { die(format!("the model has no layer {l}")) };
        for (name, wt) in [("attn_q", &lw.wq), ("attn_v", &lw.wv), ("ffn_down", &lw.w_down)] {
            let m = model.matrix(wt);
            let mut w = vec![0f32; m.rows * m.cols];
            for r in 0..m.rows {
                m.dequant_row(r, &mut w[r * m.cols..(r + 1) * m.cols])
                    .unwrap_or_else(|e| die(format!("{l}.{name}: {e}")));
            }
            mats.push((format!("{l}.{name}"), m.rows, m.cols, w));
        }
    }
    use PtqtpInit::{BestOf, Grid, GridMean, Progressive, ProgressiveTwn, Ratio};
    let d = PtqtpOptions::default();
    // The spec's algorithm with the product's cap (20 rounds) and f16 scales refit: the base of
    // the λ / iteration / tie / rounding ablations.
    let p = PtqtpOptions { init: Progressive, ..d };
    let r16 = PtqtpOptions { scales: ScaleRounding::F16, ..PtqtpOptions::REFERENCE };
    let mut rows: Vec<(String, f64, Quantizer)> = Vec::new();
    let mut add = |name: &str, bpw: f64, q: Quantizer| rows.push((name.to_string(), bpw, q));
    add("absmean per tensor (TQ2_0 / TP1, 1 plane)", 2.06, via_method(TernaryMethod::AbsmeanTensor));
    add("absmean g64 (TP1_G64, 1 plane)", 2.25, via_type(GgmlType::TP1_G64));
    add("RTN int4 g32 (AWQ4_G32)", 5.0, via_type(GgmlType::AWQ4_G32));
    add("RTN int4 g64 (AWQ4_G64)", 4.5, via_type(GgmlType::AWQ4_G64));
    add("RTN int4 g128 (AWQ4_G128)", 4.25, via_type(GgmlType::AWQ4_G128));
    add(
        "spec reference (f64, exhaustive 9-way), g64, f16 scales",
        4.5,
        Box::new(|w, _, c| ptqtp_reference_dense(w, c, 64)),
    );
    add("fast solver, spec settings (50 rounds), g64, f16 scales", 4.5, ptqtp(64, r16));
    add("fast solver, spec settings, g64, f32 scales (not storable)", f64::NAN, ptqtp(64, PtqtpOptions::REFERENCE));
    add("group: per row (576 / 1536), default", 4.0 + 64.0 / 1536.0, ptqtp(0, d));
    add("group: 128, default", 4.25, ptqtp(128, d));
    add("**group: 64, default (TP2_G64)**", 4.5, ptqtp(64, d));
    add("group: 32, default", 5.0, ptqtp(32, d));
    add("group: per row, progressive init", 4.0 + 64.0 / 1536.0, ptqtp(0, p));
    add("group: 32, progressive init", 5.0, ptqtp(32, p));
    add("init: progressive (spec)", 4.5, ptqtp(64, p));
    add("init: progressive TWN thresholds", 4.5, ptqtp(64, PtqtpOptions { init: ProgressiveTwn, ..d }));
    add(
        "init: 7-level grid (a1 = 2·a2), outer level a1 + a2 = max|w|",
        4.5,
        ptqtp(64, PtqtpOptions { init: Grid(1.0), ..d }),
    );
    for f in [0.9, 0.8, 0.7, 0.6] {
        add(&format!("init: grid, outer level {f}·max|w|"), 4.5, ptqtp(64, PtqtpOptions { init: Grid(f), ..d }));
    }
    for k in [0.5, 0.75, 1.0, 1.25, 1.5] {
        add(&format!("init: grid, a2 = {k}·mean|w|"), 4.5, ptqtp(64, PtqtpOptions { init: GridMean(k), ..d }));
    }
    for r in [0.2, 0.3, 0.4, 0.6, 0.7] {
        add(&format!("init: a2/a1 = {r}, a1 + a2 = max|w|"), 4.5, ptqtp(64, PtqtpOptions { init: Ratio(r), ..d }));
    }
    let best_of: [(&str, &'static [PtqtpInit]); 8] = [
        ("progressive, grid", &[Progressive, Grid(1.0)]),
        ("progressive, grid 0.8", &[Progressive, Grid(0.8)]),
        ("progressive, a2/a1 = 0.6", &[Progressive, Ratio(0.6)]),
        ("grid, grid 0.8", &[Grid(1.0), Grid(0.8)]),
        ("a2/a1 = 0.5, 0.3", &[Ratio(0.5), Ratio(0.3)]),
        ("a2/a1 = 0.5, 0.35, 0.2", &[Ratio(0.5), Ratio(0.35), Ratio(0.2)]),
        ("a2/a1 = 0.5, 0.4, 0.3, 0.2", &[Ratio(0.5), Ratio(0.4), Ratio(0.3), Ratio(0.2)]),
        ("progressive, a2/a1 = 0.5, 0.3", &[Progressive, Ratio(0.5), Ratio(0.3)]),
    ];
    for (name, starts) in best_of {
        add(&format!("init: best of {{{name}}}"), 4.5, ptqtp(64, PtqtpOptions { init: BestOf(starts), ..d }));
    }
    add("**init: best of {grid 0.8, a2/a1 = 0.7} (default)**", 4.5, ptqtp(64, d));
    add("default without the absmean floor", 4.5, ptqtp(64, PtqtpOptions { absmean_floor: false, ..d }));
    add("λ = 0 (progressive)", 4.5, ptqtp(64, PtqtpOptions { lambda_rel: 0.0, ..p }));
    add("λ = 1e-3·tr (progressive)", 4.5, ptqtp(64, PtqtpOptions { lambda_rel: 1e-3, ..p }));
    add("λ = 1e-2·tr (progressive)", 4.5, ptqtp(64, PtqtpOptions { lambda_rel: 1e-2, ..p }));
    for it in [0, 1, 2, 3, 5, 10, 50] {
        add(&format!("≤ {it} rounds (progressive)"), 4.5, ptqtp(64, PtqtpOptions { max_iters: it, ..p }));
    }
    add("≤ 200 rounds, tol 0 (progressive)", 4.5, ptqtp(64, PtqtpOptions { max_iters: 200, tol: 0.0, ..p }));
    for it in [3, 5, 10, 50] {
        add(&format!("≤ {it} rounds (default)"), 4.5, ptqtp(64, PtqtpOptions { max_iters: it, ..d }));
    }
    add("ties dense-first (progressive)", 4.5, ptqtp(64, PtqtpOptions { tie: TieRule::DenseFirst, ..p }));
    add("ties dense-first (default)", 4.5, ptqtp(64, PtqtpOptions { tie: TieRule::DenseFirst, ..d }));
    add(
        "f32 scales, not storable (progressive)",
        f64::NAN,
        ptqtp(64, PtqtpOptions { scales: ScaleRounding::F32, ..p }),
    );
    add("f16 scales, trits not refit (progressive)", 4.5, ptqtp(64, PtqtpOptions { scales: ScaleRounding::F16, ..p }));
    add("f16 scales, trits not refit (default)", 4.5, ptqtp(64, PtqtpOptions { scales: ScaleRounding::F16, ..d }));

    let mut table = String::new();
    table.push_str("| method | bpw | ");
    for (n, r, c, _) in &mats {
        table.push_str(&format!("{n} [{r}×{c}] | "));
    }
    table.push_str("mean | ms / matrix (1 thread) |\n|---|---|");
    table.push_str(&"---|".repeat(mats.len() + 2));
    table.push('\n');
    print!("{table}");
    let mut json_rows = Vec::new();
    for (name, bpw, q) in &rows {
        let mut line = format!("| {name} | {} | ", if bpw.is_nan() { "–".to_string() } else { format!("{bpw:.2}") });
        let (mut sum, mut cnt, mut ms) = (0f64, 0usize, 0f64);
        let mut per_matrix = serde_json::Map::new();
        for (mname, r, c, w) in &mats {
            let t0 = Instant::now();
            let deq = q(w, *r, *c);
            let dt = t0.elapsed().as_secs_f64() * 1e3;
            match deq {
                Some(deq) => {
                    let num: f64 = w.iter().zip(&deq).map(|(&a, &b)| ((a - b) as f64).powi(2)).sum();
                    let den: f64 = w.iter().map(|&a| (a as f64).powi(2)).sum();
                    let rel = (num / den).sqrt();
                    line.push_str(&format!("{rel:.4} | "));
                    per_matrix.insert(mname.clone(), json!({ "rel_error": rel, "ms": dt }));
                    sum += rel;
                    cnt += 1;
                    ms += dt;
                }
                None => {
                    line.push_str("n/a | ");
                    per_matrix.insert(mname.clone(), serde_json::Value::Null);
                }
            }
        }
        let (mean, mean_ms) = (sum / cnt.max(1) as f64, ms / cnt.max(1) as f64);
        line.push_str(&format!("{mean:.4} | {mean_ms:.1} |\n"));
        print!("{line}");
        table.push_str(&line);
        json_rows.push(json!({
            "method": name.trim_matches('*'),
            "bits_per_weight": if bpw.is_nan() { serde_json::Value::Null } else { json!(bpw) },
            "matrices": per_matrix,
            "mean_rel_error": mean,
            "mean_ms": mean_ms,
        }));
    }
    // Rounds used per start at g64 (histograms over all groups of the nine matrices), and how
    // often one start beats another.
    let (mut hp, mut hg, mut hr) = ([0usize; 21], [0usize; 21], [0usize; 21]);
    let (mut grid_wins, mut ratio_wins, mut groups) = (0usize, 0usize, 0usize);
    let (mut t1, mut t2) = (vec![0i8; 64], vec![0i8; 64]);
    for (_, _, _, w) in &mats {
        for wg in w.chunks(64) {
            let fp = ternary::ptqtp_group_with(wg, &mut t1, &mut t2, &p);
            let fg = ternary::ptqtp_group_with(wg, &mut t1, &mut t2, &PtqtpOptions { init: Grid(0.8), ..d });
            let fr = ternary::ptqtp_group_with(wg, &mut t1, &mut t2, &PtqtpOptions { init: Ratio(0.7), ..d });
            hp[fp.iters.min(20)] += 1;
            hg[fg.iters.min(20)] += 1;
            hr[fr.iters.min(20)] += 1;
            ratio_wins += (fr.err < fg.err) as usize;
            grid_wins += (fg.err < fp.err) as usize;
            groups += 1;
        }
    }
    let hist_line = format!(
        "\nRounds per group (g64, cap 20), groups per count 0..=20:\n- progressive start: {hp:?}\n\
         - grid 0.8 start: {hg:?}\n- a2/a1 = 0.7 start: {hr:?}\n\
         Grid 0.8 beats progressive in {grid_wins} of {groups} groups; a2/a1 = 0.7 beats grid 0.8 in {ratio_wins}.\n"
    );
    print!("{hist_line}");
    table.push_str(&hist_line);
    let report = json!({
        "model": model_path.display().to_string(),
        "matrices": mats.iter().map(|(n, r, c, _)| json!({ "name": n, "rows": r, "cols": c })).collect::<Vec<_>>(),
        "rows": json_rows,
        "rounds_histogram_g64": { "progressive": hp.to_vec(), "grid_0.8": hg.to_vec(), "ratio_0.7": hr.to_vec() },
        "groups_g64": groups,
        "grid_beats_progressive": grid_wins,
        "ratio_beats_grid": ratio_wins,
    });
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let text = serde_json::to_string_pretty(&report).unwrap_or_else(|e| die(format!("JSON: {e}")));
    std::fs::write(&out, text).unwrap_or_else(|e| die(format!("{}: {e}", out.display())));
    eprintln!("ptqtp-study: JSON in {}", out.display());
    if let Some(t) = table_out {
        std::fs::write(&t, &table).unwrap_or_else(|e| die(format!("{}: {e}", t.display())));
    }
}
