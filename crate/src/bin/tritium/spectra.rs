//! `tritium spectra`: weight spectra of every linear layer (ESD, power-law fit, Marchenko–Pastur
//! edge, optionally FARMS).

use serde_json::json;
use tritium::Result;

use crate::{load, print_json};

pub fn run(path: &std::path::Path, farms: bool, layers: Option<Vec<usize>>, json: bool) -> Result<()> {
    use std::io::IsTerminal;
    use tritium::analysis::{model_spectra, SpectraOptions};
    use tritium::clock::now_ms;
    let t0 = now_ms();
    let m = load(path)?;
    let load_s = (now_ms() - t0) / 1000.0;
    let opts = SpectraOptions { farms, layers, ..Default::default() };
    let show = !json && std::io::stderr().is_terminal();
    let t1 = now_ms();
    let s = model_spectra(&m, &opts, &mut |done, total| {
        if show {
            eprint!("\rspectra {done}/{total}");
        }
    })?;
    let secs = (now_ms() - t1) / 1000.0;
    if show {
        eprintln!();
    }
    let threads = rayon::current_num_threads();
    if json {
        return print_json(&json!({
            "model": path.display().to_string(), "farms": farms, "options": opts, "threads": threads,
            "n_matrices": s.len(), "seconds": secs, "load_seconds": load_s, "matrices": s,
        }));
    }
    print!(
        "{:>5} {:<5} {:>9} {:>8} {:>9} {:>7} {:>10} {:>11} {:>8} {:>10} {:>6}",
        "layer", "kind", "shape", "alpha", "alpha_hat", "D", "xmin", "spec_norm", "st_rank", "mp_edge", "spikes"
    );
    println!("{}", if farms { format!(" {:>11}", "farms_alpha") } else { String::new() });
    for x in &s {
        print!(
            "{:>5} {:<5} {:>9} {:>8.3} {:>9.3} {:>7.4} {:>10.4} {:>11.3} {:>8.2} {:>10.3} {:>6}",
            x.layer,
            x.kind.name(),
            format!("{}x{}", x.shape[0], x.shape[1]),
            x.alpha,
            x.alpha_hat,
            x.d,
            x.xmin,
            x.spectral_norm,
            x.stable_rank,
            x.mp_edge,
            x.spikes
        );
        println!("{}", x.farms.as_ref().map_or(String::new(), |f| format!(" {:>11.3}", f.alpha)));
    }
    println!("{} matrices in {secs:.2} s ({threads} threads; model load {load_s:.2} s)", s.len());
    Ok(())
}
