//! The native `tritium` CLI: inspect, generate and score models. The subcommands and their
//! options are declared here; each one runs in its own file.

mod bench;
mod generate;
mod info;
mod mods;
mod quantize;
mod score;
mod spectra;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use tritium::model::Model;
use tritium::{Error, Result};

#[derive(Parser)]
#[command(name = "tritium", version, about = "Quantized language models: inspect, generate, score")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Architecture, hyperparameters, tensor table and tokenizer of a model.
    Info {
        /// A model file (optional with --gpu).
        model: Option<PathBuf>,
        /// Report the GPU adapter, features and limits.
        #[arg(long)]
        gpu: bool,
        /// With --gpu: also run every weight format's matmul kernel (both tile sets) against the
        /// CPU reference on seeded odd shapes and report the largest errors.
        #[arg(long)]
        check: bool,
        #[arg(long)]
        json: bool,
    },
    /// Generate text from a prompt (streams to stdout).
    Generate(generate::GenerateArgs),
    /// CPU kernel and decode benchmarks: effective GB/s of matrix-vector products per weight
    /// format (fused and plain reference), and the model's prefill/decode tokens/s.
    Bench {
        /// A model for the end-to-end prefill/decode figures (optional).
        model: Option<PathBuf>,
        /// cpu or gpu.
        #[arg(long, default_value = "cpu")]
        backend: String,
        /// Matrix shapes ROWSxCOLS (outputs × inputs), comma-separated.
        #[arg(long, default_value = "576x1536,1536x576,4096x4096,4096x11008,11008x4096")]
        shapes: String,
        /// Batch sizes (tokens per matmul), comma-separated.
        #[arg(long, default_value = "1,16")]
        batch: String,
        /// Weight types, comma-separated.
        #[arg(long, default_value = "F32,F16,Q8_0,Q4_1,TQ2_0,TQ1_0")]
        types: String,
        #[arg(long, default_value_t = 5)]
        iters: usize,
        /// Tokens to decode for the model figures.
        #[arg(long, default_value_t = 32)]
        tokens: usize,
        /// Prompt tokens for the model's prefill figure (a fixed English text, repeated).
        #[arg(long, default_value_t = 64)]
        prompt_tokens: usize,
        /// GPU: matmul tiles to compare, ROWSxLANES[xTOKENS] comma-separated (default: the
        /// adapter's own choice). Each runs decode (batch 1) and a token tile for batch > 1.
        #[arg(long)]
        tiles: Option<String>,
        /// GPU: the adapter's rated memory bandwidth in GB/s, to print % of peak.
        #[arg(long)]
        peak_gbps: Option<f64>,
        #[arg(long)]
        json: bool,
    },
    /// Teacher-forced negative log-likelihood of every token of a text.
    Score {
        model: PathBuf,
        #[arg(long)]
        text_file: PathBuf,
        /// Window length in tokens (default: the model's context length; 512 prompt tokens with --mod).
        #[arg(long)]
        ctx: Option<usize>,
        #[command(flatten)]
        mods: mods::ModArgs,
        #[arg(long)]
        json: bool,
    },
    /// Quantize a model: RTN int4, AWQ int4 (calibrated), absmean ternary, PTQTP trit planes, ggml
    /// formats, or a mixed recipe by tensor class (attn=awq4,ffn=ptqtp,embed=q8_0,output=q8_0).
    /// OUT ending in .gguf writes GGUF; any other path writes an AutoAWQ folder.
    Quantize {
        model: PathBuf,
        /// rtn4 | awq4 | absmean | absmean-group | ptqtp | tq1_0 | tq2_0 | q8_0 | q4_1 | … or a
        /// recipe CLASS=METHOD,… over the classes attn, ffn, embed, output.
        #[arg(long)]
        method: String,
        /// Calibration text (AWQ).
        #[arg(long)]
        calib: Option<PathBuf>,
        /// Calibration tokens used (AWQ), in blocks of --calib-block.
        #[arg(long, default_value_t = 2048)]
        calib_tokens: usize,
        #[arg(long, default_value_t = 512)]
        calib_block: usize,
        /// Group size (32, 64, 128); default: the largest that divides every quantized width.
        #[arg(long)]
        group: Option<usize>,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Perplexity: teacher forcing over windows of --ctx tokens (overlapping by one token, so
    /// each token after the first is predicted once).
    Perplexity {
        model: PathBuf,
        #[arg(long)]
        text_file: PathBuf,
        #[arg(long, default_value_t = 512)]
        ctx: usize,
        /// Score only the first N tokens of the text.
        #[arg(long)]
        max_tokens: Option<usize>,
        /// Quantize every matmul input to int8 per 32-element block, as the GPU's int8 kernels do
        /// (to measure what int8 activations cost in perplexity).
        #[arg(long)]
        i8_activations: bool,
        #[command(flatten)]
        mods: mods::ModArgs,
        #[arg(long)]
        json: bool,
    },
    /// Weight spectra of every linear layer: ESD of WᵀW (raw σ², WeightWatcher's convention),
    /// power-law alpha / xmin / D (WeightWatcher fit), alpha-hat, spectral norm, stable rank,
    /// Marchenko–Pastur bulk edge and spikes; FARMS alpha with --farms.
    Spectra {
        model: PathBuf,
        /// Also fit FARMS (pooled ESD of 100×200 windows, 10 starts per dimension, xmin_mid).
        #[arg(long)]
        farms: bool,
        /// Comma-separated layer indices (default: all).
        #[arg(long, value_delimiter = ',')]
        layers: Option<Vec<usize>>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code(), e);
            ExitCode::FAILURE
        }
    }
}

/// A GGUF file, or an AutoAWQ / HF folder (config.json + safetensors + tokenizer.json).
pub(crate) fn load(path: &std::path::Path) -> Result<Model> {
    if path.is_dir() {
        tritium::model::awq_folder::load_awq_folder(&tritium::format::awq::read_folder(path)?)
    } else {
        Model::from_path(path)
    }
}

pub(crate) fn print_json(v: &serde_json::Value) -> Result<()> {
    let s = serde_json::to_string(v).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    println!("{s}");
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Info { model, gpu, check, json } => info::run(model, gpu, check, json),
        Cmd::Generate(args) => generate::run(args),
        Cmd::Bench { model, backend, shapes, batch, types, iters, tokens, prompt_tokens, tiles, peak_gbps, json } => {
            let o = bench::BenchOpts { iters, tokens, prompt_tokens, tiles, peak_gbps, json };
            bench::run(model, &backend, &shapes, &batch, &types, &o)
        }
        Cmd::Spectra { model, farms, layers, json } => spectra::run(&model, farms, layers, json),
        Cmd::Quantize { model, method, calib, calib_tokens, calib_block, group, output, json } => {
            quantize::run(&model, &method, calib, calib_tokens, calib_block, group, &output, json)
        }
        Cmd::Perplexity { model, text_file, ctx, max_tokens, i8_activations, mods, json } => {
            score::perplexity(model, text_file, ctx, max_tokens, i8_activations, mods, json)
        }
        Cmd::Score { model, text_file, ctx, mods, json } => score::score(model, text_file, ctx, mods, json),
    }
}
