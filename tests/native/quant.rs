//! Quantizers against the worked examples of docs/algorithms.md §1.9 (AWQ) and §2.4–2.6
//! (BitNet absmean, TQ1_0 / TQ2_0 / I2_S bytes, PTQTP), seeded property tests of the internal
//! AWQ4_G* / TP*_G* formats and packings, and bad shapes. (The PTQTP design study, which measures
//! rather than checks, is a benchmark: `bash pkg-scripts/bench-ptqtp`.)

use half::f16;
use tritium::error::Error;
use tritium::model::sampler::SplitMix64;
use tritium::quant::awq::{self, Int4Linear};
use tritium::quant::ternary::{self, PtqtpInit, PtqtpOptions, TernaryMethod};
use tritium::quant::{self, GgmlType};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close(*g, *w, tol), "{what}[{i}]: got {g}, want {w} (tol {tol})\n got  {got:?}\n want {want:?}");
    }
}

/// The error must be `InvalidArgument` and its message must name every one of `needles`.
fn assert_invalid<T: std::fmt::Debug>(r: tritium::Result<T>, needles: &[&str]) {
    match r {
        Err(Error::InvalidArgument(msg)) => {
            for n in needles {
                assert!(msg.contains(n), "error message {msg:?} does not mention {n:?}");
            }
        }
        other => panic!("expected InvalidArgument mentioning {needles:?}, got {other:?}"),
    }
}

struct Rng(SplitMix64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
    fn uniform(&mut self) -> f32 {
        self.0.next_f64() as f32
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f32 {
        let u = self.0.next_f64().max(1e-300);
        let v = self.0.next_f64();
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
    /// Weights like a linear layer's: normal, scaled per row, with a few outliers.
    fn weights(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let x = self.normal() * scale;
                if self.below(200) == 0 {
                    x * 6.0
                } else {
                    x
                }
            })
            .collect()
    }
    fn trits(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.below(3) as i8 - 1).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// §1.9 AWQ test vectors

/// One T1 row: (w, S, Z, q, ŵ).
type T1Row = ([f32; 8], f32, u8, [u8; 8], [f32; 8]);

#[test]
fn awq_t1_group_quantizer() {
    let rows: [T1Row; 2] = [
        (
            [0.12, -0.40, 0.33, 0.05, -0.21, 0.50, -0.07, 0.18],
            0.06,
            7,
            [9, 0, 13, 8, 3, 15, 6, 10],
            [0.12, -0.42, 0.36, 0.06, -0.24, 0.48, -0.06, 0.18],
        ),
        (
            [-0.30, 0.10, 0.25, -0.45, 0.60, -0.15, 0.02, 0.40],
            0.07,
            6,
            [2, 7, 10, 0, 15, 4, 6, 12],
            [-0.28, 0.07, 0.28, -0.42, 0.63, -0.14, 0.0, 0.42],
        ),
    ];
    for (w, s_want, z_want, q_want, deq_want) in rows {
        let mut q = [0u8; 8];
        let (s, z) = awq::quantize_group(&w, &mut q);
        assert!(close(s, s_want, 1e-7), "S = {s}, want {s_want}");
        assert_eq!(z, z_want, "Z");
        assert_eq!(q, q_want, "codes");
        let deq: Vec<f32> = q.iter().map(|&c| (c as f32 - z as f32) * s).collect();
        assert_close("ŵ", &deq, &deq_want, 1e-6);
        let mut fq = w.to_vec();
        awq::fake_quantize_group(&mut fq);
        assert_eq!(fq, deq, "fake_quantize_group = (q − Z)·S");
    }
}

/// The 8×8 layer of T2 (nn.Linear layout, row = output channel).
const T2_W: [[f32; 8]; 8] = [
    [0.296875, 0.25, -0.5, -0.265625, 0.4375, 0.0625, 0.140625, 0.1875],
    [0.3046875, 0.125, -0.09375, 0.2734375, 0.375, 0.3125, 0.0390625, 0.078125],
    [-0.08203125, -0.109375, -0.1875, -0.12890625, 0.046875, 0.0, -0.15234375, -0.109375],
    [0.421875, 0.5625, 0.0, 0.484375, 0.9375, 0.4375, 0.890625, 0.5],
    [-0.1015625, -0.3125, -0.46875, -0.0390625, 0.0, -0.15625, -0.0859375, -0.1875],
    [-0.06640625, -0.078125, -0.109375, -0.09765625, 0.125, 0.09375, 0.08203125, 0.03125],
    [0.171875, 0.4375, -0.3125, 0.484375, 0.625, 0.5625, -0.171875, 0.125],
    [-0.0703125, -0.125, -0.3125, -0.1953125, 0.15625, -0.1875, -0.0859375, -0.09375],
];

#[test]
fn awq_t2_gemm_layer() {
    let w: Vec<f32> = T2_W.iter().flatten().copied().collect();
    let l = Int4Linear::quantize(&w, 8, 8, 8).unwrap();
    let codes: [[u8; 8]; 8] = [
        [13, 12, 0, 4, 15, 9, 10, 11],
        [13, 7, 0, 12, 15, 13, 4, 5],
        [7, 5, 0, 4, 15, 12, 2, 5],
        [7, 9, 0, 8, 15, 7, 14, 8],
        [12, 5, 0, 14, 15, 10, 12, 9],
        [3, 2, 0, 1, 15, 13, 12, 9],
        [8, 12, 0, 13, 15, 14, 2, 7],
        [8, 6, 0, 4, 15, 4, 7, 7],
    ];
    assert_eq!(l.codes, codes.iter().flatten().copied().collect::<Vec<u8>>(), "integer codes");
    // W[1][7] = 2.5·S is a tie: half to even gives 2 + Z = 5 (half away from zero would give 6).
    assert_eq!(l.codes[8 + 7], 5, "the deliberate tie rounds half to even");
    assert_eq!(l.zeros, vec![8, 3, 12, 0, 15, 7, 5, 10], "zero points");
    let bits: Vec<u16> = l.scales.iter().map(|s| s.to_bits()).collect();
    assert_eq!(bits, vec![0x2c00, 0x2800, 0x2400, 0x2c00, 0x2800, 0x2400, 0x2c00, 0x2800], "fp16 scale bits");

    let g = awq::pack_gemm(&l).unwrap();
    assert_eq!(
        g.qweight,
        vec![0x837d8c7d, 0x6297c55c, 0x00000000, 0x418cde44, 0xffffffff, 0x4d7deac9, 0x7ce42c2a, 0x7985795b],
        "qweight[k][0]"
    );
    let as_i32: Vec<i32> = g.qweight.iter().map(|&u| u as i32).collect();
    assert_eq!(as_i32, vec![-2088924035, 1654113628, 0, 1099750980, -1, 1300097737, 2095328298, 2038790491]);
    assert_eq!(g.qzeros, vec![0xa7035fc8], "qzeros[0][0]");
    assert_eq!(g.qzeros[0] as i32, -1492951096);
    assert_eq!(g.scales.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), bits, "scales[0][:]");
    assert_eq!(awq::unpack_gemm(&g), l, "unpack_gemm(pack_gemm(x)) = x");

    // Dequantize through the GEMM words exactly as §1.7 reads them (W^T[k][n]).
    let shift = [0, 16, 4, 20, 8, 24, 12, 28];
    let mut deq_t = [[0f32; 8]; 8];
    for (k, row) in deq_t.iter_mut().enumerate() {
        for (n, v) in row.iter_mut().enumerate() {
            let q = (g.qweight[k] >> shift[n]) & 0xf;
            let z = (g.qzeros[0] >> shift[n]) & 0xf;
            *v = (q as f32 - z as f32) * g.scales[n].to_f32();
        }
    }
    let deq = l.dequantize();
    let mut max_err = 0f32;
    for n in 0..8 {
        for k in 0..8 {
            assert_eq!(deq[n * 8 + k], deq_t[k][n], "Int4Linear::dequantize agrees with the GEMM words");
            max_err = max_err.max((deq[n * 8 + k] - T2_W[n][k]).abs());
        }
    }
    assert_eq!(max_err, 0.015625, "max |ŵ − W|");
    let x = [1.0f32, -2.0, 0.5, 3.0, -1.0, 0.25, 2.0, -0.5];
    let y: Vec<f32> = (0..8).map(|n| (0..8).map(|k| x[k] * deq_t[k][n]).sum()).collect();
    assert_eq!(y, vec![-1.453125, 0.59375, -0.6328125, 1.484375, 0.0703125, -0.203125, -0.265625, -0.875], "y");

    // GEMV layout (§1.8): qweight[n][0], sequential nibbles.
    assert_eq!(
        awq::pack_gemv_qweight(&l).unwrap(),
        vec![0xba9f40cd, 0x54dfc07d, 0x52cf4057, 0x8e7f8097, 0x9cafe05c, 0x9cdf1023, 0x72efd0c8, 0x774f4068],
        "GEMV qweight[n][0]"
    );
    // g = 8 has no GEMV zeros width in AutoAWQ.
    assert_invalid(awq::pack_gemv(&l), &["8"]);
}

/// awq.py: the two rows of T1 as an [out = 8, in = 2] int matrix, packed GEMM-style.
#[test]
fn awq_py_two_row_gemm_words() {
    let q = [[9u8, 0, 13, 8, 3, 15, 6, 10], [2, 7, 10, 0, 15, 4, 6, 12]];
    let codes: Vec<u8> = (0..8).flat_map(|o| [q[0][o], q[1][o]]).collect();
    let l = Int4Linear { n: 8, k: 2, group: 2, codes, scales: vec![f16::ONE; 8], zeros: vec![0; 8] };
    let g = awq::pack_gemm(&l).unwrap();
    assert_eq!(g.qweight, vec![0xaf8063d9, 0xc4076fa2]);
    assert_eq!(g.qweight.iter().map(|&u| u as i32).collect::<Vec<_>>(), vec![-1350540327, -1006145630]);
    assert_eq!(awq::unpack_gemm(&g), l);
}

#[test]
fn awq_t3_scale_normalisation() {
    let x_mean = [0.5f32, 2.0, 0.1, 8.0];
    let w_mean = [0.6f32, 0.3, 0.9, 0.45];
    let cases: [(f32, bool, [f32; 4]); 6] = [
        (0.0, false, [1.0, 1.0, 1.0, 1.0]),
        (0.0, true, [0.866073, 1.731858, 0.577414, 1.154701]),
        (0.5, false, [0.747674, 1.495349, 0.334370, 2.990698]),
        (0.5, true, [0.770016, 2.177818, 0.281177, 3.556481]),
        (0.25, false, [0.864682, 1.222844, 0.578247, 1.729363]),
        (0.25, true, [0.903728, 2.149225, 0.445906, 2.242624]),
    ];
    for (ratio, duo, want) in cases {
        let s = awq::search_scales(&x_mean, &w_mean, ratio, duo);
        // The printed values have 6 decimals: within 5e-7 of the exact ones, plus f32 rounding.
        assert_close(&format!("s(ratio {ratio}, duo {duo})"), &s, &want, 1e-6);
        let (mx, mn) = s.iter().fold((f32::MIN, f32::MAX), |(a, b), &v| (a.max(v), b.min(v)));
        assert!(close(mx * mn, 1.0, 1e-5), "geometric centring: max·min = {}", mx * mn);
    }
    // inf / NaN entries become 1 (as in torch, an infinite max also zeroes the finite entries,
    // and a NaN poisons max·min and so every entry).
    let s = awq::search_scales(&[f32::INFINITY, 1.0], &[1.0, 1.0], 0.5, false);
    assert_eq!(s, vec![1.0, 0.0]);
    let s = awq::search_scales(&[f32::NAN, 4.0], &[1.0, 1.0], 0.5, true);
    assert_eq!(s, vec![1.0, 1.0]);
}

// ---------------------------------------------------------------------------------------------
// §2.6 ternary test vectors

#[test]
fn bitnet_absmean_and_activations() {
    let w = [0.20f32, -0.05, 0.90, -0.40, 0.01, -0.70, 0.30, 0.10];
    let (gamma, t) = ternary::absmean_tensor(&w);
    assert!(close(gamma, 0.3325, 1e-7), "γ = {gamma}");
    assert_eq!(t, vec![1, 0, 1, -1, 0, -1, 1, 0]);
    // Per group (here: per row of 4): γ = 0.3875 and 0.2775, the same trits.
    let (gs, tg) = ternary::absmean_groups(&w, 4).unwrap();
    assert_close("γ per group", &gs, &[0.3875, 0.2775], 1e-7);
    assert_eq!(tg, t);
    // An all-zero group: γ = 1e-5, all trits 0.
    let (gs, tg) = ternary::absmean_groups(&[0.0; 4], 4).unwrap();
    assert_eq!((gs, tg), (vec![1e-5], vec![0; 4]));

    let (s, xq) = ternary::quantize_activations_i8(&[0.5, -1.27, 0.03, 0.9]);
    assert_eq!(s, 100.0);
    assert_eq!(xq, vec![50, -127, 3, 90]);
    let (s, xq) = ternary::quantize_activations_i8(&[0.0, 0.0]);
    assert_eq!((s, xq), (127.0 / 1e-5, vec![0, 0]));
}

/// trit t_i = ((7i + ⌊i/5⌋) mod 3) − 1, i = 0..255.
fn block_trits() -> Vec<i8> {
    (0..256).map(|i| ((i * 7 + i / 5) % 3) as i8 - 1).collect()
}

#[test]
fn tq1_single_byte() {
    // Put the trits [1, 0, -1, 1, 1] where qs[0] holds them (weights 0, 32, 64, 96, 128).
    let mut t = vec![0i8; 256];
    for (n, v) in [1, 0, -1, 1, 1].into_iter().enumerate() {
        t[32 * n] = v;
    }
    let b = ternary::encode_tq(GgmlType::TQ1_0, &t, &[f16::ONE]).unwrap();
    assert_eq!(b[0], 208, "digits [2,1,0,2,2] → v = 197 → byte 208");
    let mut out = [0i8; 256];
    quant::tq1_digits(&b, &mut out);
    assert_eq!((0..5).map(|n| out[32 * n]).collect::<Vec<_>>(), vec![1, 0, -1, 1, 1]);
    // Every 5-digit code decodes back.
    for v in 0..243u16 {
        let mut blk = [0u8; 54];
        blk[0] = (v * 256).div_ceil(243) as u8;
        quant::tq1_digits(&blk, &mut out);
        let digits: Vec<u16> = (0..5).map(|n| (v / 3u16.pow(4 - n as u32)) % 3).collect();
        let got: Vec<u16> = (0..5).map(|n| (out[32 * n] + 1) as u16).collect();
        assert_eq!(got, digits, "code {v}");
    }
}

const TQ2_HEX: &str = "588116600558811660055881166005588116600558811660055881166005588160055881166005588116600558811660055881166005588116600558811660050029";
const TQ1_HEX: &str =
    "465dd11874465dd11874465dd11874465dd11874465dd11874465dd11874465d3192b622663192b622663192b6226631235fcb430029";
const I2S_HEX: &str = "25429409502542940950254294095025429409502542940950254294095025420950254294095025429409502542940950254294095025429409502542940950";

#[test]
fn ternary_256_block_bytes() {
    let t = block_trits();
    assert_eq!(&t[..16], &[-1, 0, 1, -1, 0, -1, 0, 1, -1, 0, -1, 0, 1, -1, 0, -1]);
    let d = f16::from_f32(0.0390625);
    assert_eq!(d.to_bits(), 0x2900);
    let w: Vec<f32> = t.iter().map(|&v| v as f32 * d.to_f32()).collect();
    for (ty, want) in [(GgmlType::TQ2_0, TQ2_HEX), (GgmlType::TQ1_0, TQ1_HEX)] {
        // ggml's reference quantizer (d = block max |w| = d here) …
        let b = quant::quantize(ty, &w).unwrap();
        assert_eq!(hex(&b), want, "{} bytes via quant::quantize", ty.name());
        assert_eq!(quant::dequantize_vec(ty, &b, 256).unwrap(), w, "{} dequantizes back", ty.name());
        // … and the encoder of given trits and scale.
        let e = ternary::encode_tq(ty, &t, &[d]).unwrap();
        assert_eq!(hex(&e), want, "{} bytes via encode_tq", ty.name());
        assert_eq!(ternary::decode_tq(ty, &e).unwrap(), (t.clone(), vec![d]));
    }
    let i2 = ternary::pack_i2s(&t, d.to_f32()).unwrap();
    assert_eq!(i2.len(), 96);
    assert_eq!(hex(&i2[..64]), I2S_HEX, "I2_S codes");
    assert_eq!(hex(&i2[64..68]), "0000203d", "I2_S f32 scale");
    assert_eq!(&i2[68..], &[0u8; 28], "I2_S zero tail");
    assert_eq!(ternary::unpack_i2s(&i2, 256).unwrap(), (t.clone(), d.to_f32()));

    // BitNet per-tensor absmean on the same row: γ = mean|w| ≠ d, but the trits are the same and
    // every TQ2_0 block carries d = γ (not ggml's block max).
    let (ty, b) = ternary::quantize_matrix_ternary(&w, 1, 256, TernaryMethod::AbsmeanTensor).unwrap();
    assert_eq!(ty, GgmlType::TQ2_0);
    let (gamma, _) = ternary::absmean_tensor(&w);
    assert_eq!(ternary::decode_tq(ty, &b).unwrap(), (t, vec![f16::from_f32(gamma)]));
}

// ---------------------------------------------------------------------------------------------
// §2.4 PTQTP worked example

const PTQTP_W: [f32; 8] = [0.31, -0.12, 0.05, -0.47, 0.22, 0.0, -0.26, 0.09];

#[test]
fn ptqtp_worked_example() {
    let w = PTQTP_W;
    let t1_want: [i8; 8] = [1, 0, 0, -1, 1, 0, -1, 0];
    let t2_want: [i8; 8] = [0, -1, 0, -1, 0, 0, 0, 1];
    let (mut t1, mut t2) = ([0i8; 8], [0i8; 8]);

    // The f64 reference.
    let (a1, a2, err) = ternary::ptqtp_group(&w, &mut t1, &mut t2, 50, 1e-6);
    assert!(close(a1, 0.2818177, 1e-6) && close(a2, 0.1327271, 1e-6), "reference: a1 {a1}, a2 {a2}");
    assert_eq!((t1, t2), (t1_want, t2_want), "reference trits");
    assert!((err - 0.01265455).abs() < 1e-8, "reference error {err}");

    // The fast solver with the reference settings: same trits, same scales and error.
    let fit = ternary::ptqtp_group_with(&w, &mut t1, &mut t2, &PtqtpOptions::REFERENCE);
    assert!(close(fit.a1, 0.2818177, 1e-6) && close(fit.a2, 0.1327271, 1e-6), "fast: {fit:?}");
    assert_eq!((t1, t2), (t1_want, t2_want), "fast trits");
    assert!(close(fit.err, 0.01265455, 1e-7), "fast error {}", fit.err);
    let what: Vec<f32> = (0..8).map(|i| fit.a1 * t1[i] as f32 + fit.a2 * t2[i] as f32).collect();
    assert_close("ŵ", &what, &[0.281818, -0.132727, 0.0, -0.414545, 0.281818, 0.0, -0.281818, 0.132727], 1e-6);

    // Iteration by iteration (ptqtp.out): scales and errors; the errors never increase.
    let trace = [
        (0.236923, 0.097692, 0.0224575),
        (0.254166, 0.109167, 0.01840837),
        (0.254999, 0.120000, 0.01670012),
        (0.281818, 0.132727, 0.01265455),
        (0.281818, 0.132727, 0.01265455),
    ];
    let mut prev = f32::INFINITY;
    for (i, &(b1, b2, e)) in trace.iter().enumerate() {
        let opts = PtqtpOptions { max_iters: i + 1, tol: 0.0, ..PtqtpOptions::REFERENCE };
        let fit = ternary::ptqtp_group_with(&w, &mut t1, &mut t2, &opts);
        assert!(close(fit.a1, b1, 1e-6) && close(fit.a2, b2, 1e-6), "iteration {i}: {fit:?}");
        assert!(close(fit.err, e, 1e-7), "iteration {i}: error {} want {e}", fit.err);
        assert!(fit.err <= prev, "iteration {i}: error went up from {prev} to {}", fit.err);
        prev = fit.err;
        let (r1, r2, re) = ternary::ptqtp_group(&w, &mut t1, &mut t2, i + 1, 0.0);
        assert!(close(r1, b1, 1e-6) && close(r2, b2, 1e-6) && (re - e as f64).abs() < 1e-8, "reference iteration {i}");
    }

    // Single-plane absmean on the same group: error 0.1141, nine times PTQTP's.
    let (gs, tb) = ternary::absmean_groups(&w, 8).unwrap();
    let e1: f32 = w.iter().zip(&tb).map(|(&x, &t)| (x - gs[0] * t as f32).powi(2)).sum();
    assert!(close(e1, 0.1141, 1e-6), "absmean error {e1}");

    // The spec's start with the product's f16 scales (trits refit against them): the same trits.
    let opts = PtqtpOptions { init: PtqtpInit::Progressive, ..PtqtpOptions::default() };
    let fit = ternary::ptqtp_group_with(&w, &mut t1, &mut t2, &opts);
    assert_eq!((t1, t2), (t1_want, t2_want));
    assert_eq!((fit.a1, fit.a2), (f16::from_f32(0.2818177).to_f32(), f16::from_f32(0.1327271).to_f32()));
    // The product default also tries a grid start and keeps the better fit: never worse than the
    // reference (here the grid start finds a better local optimum).
    let fit = ternary::ptqtp_group_with(&w, &mut t1, &mut t2, &PtqtpOptions::default());
    let deq: Vec<f32> = (0..8).map(|i| fit.a1 * t1[i] as f32 + fit.a2 * t2[i] as f32).collect();
    let e: f32 = w.iter().zip(&deq).map(|(x, y)| (x - y).powi(2)).sum();
    assert!(close(e, fit.err, 1e-7) && e < 0.01265455, "default: error {e} ({fit:?})");
    println!("PTQTP worked example, default options: {fit:?}, t1 {t1:?}, t2 {t2:?}");
}

// ---------------------------------------------------------------------------------------------
// Property tests (seeded)

const TP_TYPES: [GgmlType; 6] = [
    GgmlType::TP1_G32,
    GgmlType::TP1_G64,
    GgmlType::TP1_G128,
    GgmlType::TP2_G32,
    GgmlType::TP2_G64,
    GgmlType::TP2_G128,
];
const AWQ_TYPES: [GgmlType; 3] = [GgmlType::AWQ4_G32, GgmlType::AWQ4_G64, GgmlType::AWQ4_G128];

#[test]
fn awq4_blocks_round_trip() {
    let mut rng = Rng::new(1);
    for ty in AWQ_TYPES {
        let (rows, cols) = (5, 384);
        let g = ty.block_size();
        let codes: Vec<u8> = (0..rows * cols).map(|_| rng.below(16) as u8).collect();
        let scales: Vec<f16> = (0..rows * cols / g).map(|_| f16::from_f32(rng.uniform() * 0.1 + 1e-4)).collect();
        let zeros: Vec<u8> = (0..rows * cols / g).map(|_| rng.below(16) as u8).collect();
        let b = quant::encode_awq4(ty, rows, cols, &codes, &scales, &zeros);
        assert_eq!(b.len(), ty.bytes_for(rows * cols));
        assert_eq!(quant::decode_awq4(ty, &b), (codes.clone(), scales.clone(), zeros.clone()), "{}", ty.name());
        let l = Int4Linear { n: rows, k: cols, group: g, codes, scales, zeros };
        assert_eq!(l.to_blocks().unwrap(), (ty, b.clone()));
        assert_eq!(Int4Linear::from_blocks(ty, rows, cols, &b), l);
        assert_eq!(quant::dequantize_vec(ty, &b, rows * cols).unwrap(), l.dequantize(), "{} dequantize", ty.name());
    }
}

#[test]
fn trit_plane_blocks_round_trip() {
    let mut rng = Rng::new(2);
    for ty in TP_TYPES {
        let (rows, cols) = (3, 384);
        let (g, planes) = (ty.block_size(), ty.planes());
        let trits: Vec<Vec<i8>> = (0..planes).map(|_| rng.trits(rows * cols)).collect();
        let alphas: Vec<Vec<f16>> =
            (0..planes).map(|_| (0..rows * cols / g).map(|_| f16::from_f32(rng.normal() * 0.05)).collect()).collect();
        let tr: Vec<&[i8]> = trits.iter().map(|v| v.as_slice()).collect();
        let al: Vec<&[f16]> = alphas.iter().map(|v| v.as_slice()).collect();
        let b = quant::encode_trit_planes(ty, cols, &tr, &al);
        assert_eq!(b.len(), ty.bytes_for(rows * cols));
        assert_eq!(quant::decode_trit_planes(ty, &b), (trits.clone(), alphas.clone()), "{}", ty.name());
        let deq = quant::dequantize_vec(ty, &b, rows * cols).unwrap();
        for (i, v) in deq.iter().enumerate() {
            let want: f32 = (0..planes).map(|k| alphas[k][i / g].to_f32() * trits[k][i] as f32).sum();
            assert_eq!(*v, want, "{} element {i}", ty.name());
        }
    }
}

#[test]
fn rtn_int4_error_bound() {
    let mut rng = Rng::new(3);
    for ty in AWQ_TYPES {
        let g = ty.block_size();
        let w = rng.weights(16 * 384, 0.02);
        let b = quant::quantize(ty, &w).unwrap();
        let deq = quant::dequantize_vec(ty, &b, w.len()).unwrap();
        let (_, scales, _) = quant::decode_awq4(ty, &b);
        for (gi, (wg, dg)) in w.chunks(g).zip(deq.chunks(g)).enumerate() {
            let mut codes = vec![0u8; g];
            let (s, _) = awq::quantize_group(wg, &mut codes);
            let s16 = scales[gi].to_f32();
            assert_eq!(s16, f16::from_f32(s).to_f32());
            // |ŵ − w| ≤ S16/2 inside the range; at the ends the zero point's rounding against the
            // f16 scale adds at most 15·|S − S16|.
            let bound = s16 / 2.0 + 15.0 * (s - s16).abs() + 1e-6;
            for (i, (&x, &y)) in wg.iter().zip(dg).enumerate() {
                assert!((x - y).abs() <= bound, "{} group {gi} element {i}: |{y} − {x}| > {bound}", ty.name());
            }
        }
    }
}

#[test]
fn tp1_absmean_error_bound() {
    let mut rng = Rng::new(4);
    for ty in [GgmlType::TP1_G32, GgmlType::TP1_G64, GgmlType::TP1_G128] {
        let g = ty.block_size();
        let w = rng.weights(8 * 384, 0.02);
        let b = quant::quantize(ty, &w).unwrap();
        let deq = quant::dequantize_vec(ty, &b, w.len()).unwrap();
        let (trits, alphas) = quant::decode_trit_planes(ty, &b);
        let (gammas, want_trits) = ternary::absmean_groups(&w, g).unwrap();
        assert_eq!(trits[0], want_trits, "{}: trits = round(w/γ)", ty.name());
        for (gi, (wg, dg)) in w.chunks(g).zip(deq.chunks(g)).enumerate() {
            let (gamma, g16) = (gammas[gi], alphas[0][gi].to_f32());
            assert_eq!(g16, f16::from_f32(gamma).to_f32());
            for (&x, &y) in wg.iter().zip(dg) {
                // nearest of {−γ, 0, γ}, or the clamp for |w| > 1.5γ; plus the f16 rounding of γ.
                let bound = (gamma / 2.0).max(x.abs() - gamma) + (gamma - g16).abs() + 1e-7;
                assert!((x - y).abs() <= bound, "{} group {gi}: |{y} − {x}| > {bound}", ty.name());
            }
        }
    }
}

#[test]
fn ptqtp_beats_single_plane_on_every_group() {
    let mut rng = Rng::new(5);
    for g in [32, 64, 128] {
        let (t1, t2) = (GgmlType::trit_planes(1, g).unwrap(), GgmlType::trit_planes(2, g).unwrap());
        let w = rng.weights(32 * 384, 0.02);
        let d1 = quant::dequantize_vec(t1, &quant::quantize(t1, &w).unwrap(), w.len()).unwrap();
        let d2 = quant::dequantize_vec(t2, &quant::quantize(t2, &w).unwrap(), w.len()).unwrap();
        let (mut sum1, mut sum2) = (0f64, 0f64);
        for (gi, ((wg, a), b)) in w.chunks(g).zip(d1.chunks(g)).zip(d2.chunks(g)).enumerate() {
            let e = |d: &[f32]| wg.iter().zip(d).map(|(&x, &y)| ((x - y) as f64).powi(2)).sum::<f64>();
            let (e1, e2) = (e(a), e(b));
            assert!(e2 <= e1, "g {g} group {gi}: PTQTP error {e2} > absmean error {e1}");
            sum1 += e1;
            sum2 += e2;
        }
        assert!(sum2 < 0.35 * sum1, "g {g}: PTQTP {sum2} vs absmean {sum1}");
    }
    // Exactly ternary groups: one plane suffices, PTQTP must not lose it.
    let w: Vec<f32> = block_trits().iter().map(|&t| t as f32 * 0.03).collect();
    let d2 = quant::dequantize_vec(GgmlType::TP2_G64, &quant::quantize(GgmlType::TP2_G64, &w).unwrap(), 256).unwrap();
    for (x, y) in w.iter().zip(&d2) {
        assert!((x - y).abs() <= 0.03 / 1024.0, "{x} vs {y}");
    }
    // All-zero groups stay zero.
    let b = quant::quantize(GgmlType::TP2_G32, &[0.0; 64]).unwrap();
    assert_eq!(quant::dequantize_vec(GgmlType::TP2_G32, &b, 64).unwrap(), vec![0.0; 64]);
}

/// The fast solver against the f64 reference on random groups: the same local optimum almost
/// always (they can part only where an element sits within float rounding of a midpoint).
#[test]
fn ptqtp_fast_matches_reference() {
    let mut rng = Rng::new(6);
    let g = 64;
    let groups = 2000;
    let w = rng.weights(groups * g, 0.02);
    let (mut same, mut worse) = (0, 0f64);
    let (mut r1, mut r2, mut f1, mut f2) = (vec![0i8; g], vec![0i8; g], vec![0i8; g], vec![0i8; g]);
    for wg in w.chunks(g) {
        let (a1, a2, re) = ternary::ptqtp_group(wg, &mut r1, &mut r2, 50, 1e-6);
        let fit = ternary::ptqtp_group_with(wg, &mut f1, &mut f2, &PtqtpOptions::REFERENCE);
        if r1 == f1 && r2 == f2 {
            same += 1;
            assert!(close(fit.a1, a1, 1e-6 * a1.abs().max(1e-3)) && close(fit.a2, a2, 1e-6 * a2.abs().max(1e-3)));
            assert!(((fit.err as f64) - re).abs() <= 1e-5 * re, "{} vs {re}", fit.err);
        } else {
            worse = f64::max(worse, fit.err as f64 / re - 1.0);
        }
    }
    println!("PTQTP fast vs reference: {same}/{groups} groups identical, worst relative excess elsewhere {worse:.2e}");
    assert!(same >= groups * 99 / 100, "only {same} of {groups} groups agree with the reference");
    assert!(worse < 0.05, "a differing group is {worse} worse than the reference");
}

#[test]
fn packings_round_trip() {
    let mut rng = Rng::new(7);
    // AutoAWQ GEMM and GEMV.
    for g in [32, 64, 128] {
        let w = rng.weights(24 * 256, 0.05);
        let l = Int4Linear::quantize(&w, 24, 256, g).unwrap();
        let gemm = awq::pack_gemm(&l).unwrap();
        assert_eq!((gemm.qweight.len(), gemm.qzeros.len(), gemm.scales.len()), (256 * 3, 256 / g * 3, 256 / g * 24));
        assert_eq!(awq::unpack_gemm(&gemm), l, "GEMM g {g}");
        let gemv = awq::pack_gemv(&l).unwrap();
        let zw = awq::gemv_zeros_width(256, g).unwrap();
        // K/g = 8, 4, 2 groups → ⌈·/8⌉ = 1, rounded up to m = 4, 2, 1.
        assert_eq!(zw, [4, 2, 1][[32, 64, 128].iter().position(|&x| x == g).unwrap()]);
        assert_eq!((gemv.qweight.len(), gemv.qzeros.len(), gemv.scales.len()), (24 * 32, 24 * zw, 24 * 8 * zw));
        assert_eq!(awq::unpack_gemv(&gemv).unwrap(), l, "GEMV g {g}");
    }
    // I2_S and TQ1_0 / TQ2_0 from given trits.
    for n in [128, 384, 1024] {
        let t = rng.trits(n);
        let b = ternary::pack_i2s(&t, 0.25).unwrap();
        assert_eq!(b.len(), n / 4 + 32);
        assert_eq!(ternary::unpack_i2s(&b, n).unwrap(), (t, 0.25));
    }
    for ty in [GgmlType::TQ1_0, GgmlType::TQ2_0] {
        let t = rng.trits(4 * 256);
        let d: Vec<f16> = (0..4).map(|_| f16::from_f32(rng.uniform())).collect();
        let b = ternary::encode_tq(ty, &t, &d).unwrap();
        assert_eq!(ternary::decode_tq(ty, &b).unwrap(), (t.clone(), d.clone()));
        let deq = quant::dequantize_vec(ty, &b, t.len()).unwrap();
        for (i, v) in deq.iter().enumerate() {
            assert_eq!(*v, t[i] as f32 * d[i / 256].to_f32(), "{} element {i}", ty.name());
        }
    }
}

#[test]
fn quantize_matrix_ternary_methods() {
    let mut rng = Rng::new(8);
    // Per-tensor absmean, cols a multiple of 256 → TQ2_0 with d = γ in every block.
    let w = rng.weights(4 * 512, 0.02);
    let (gamma, trits) = ternary::absmean_tensor(&w);
    let (ty, b) = ternary::quantize_matrix_ternary(&w, 4, 512, TernaryMethod::AbsmeanTensor).unwrap();
    assert_eq!(ty, GgmlType::TQ2_0);
    assert_eq!(ternary::decode_tq(ty, &b).unwrap(), (trits, vec![f16::from_f32(gamma); 8]));
    // cols = 576 → TP1_G64 with every scale γ.
    let w = rng.weights(3 * 576, 0.02);
    let (gamma, trits) = ternary::absmean_tensor(&w);
    let (ty, b) = ternary::quantize_matrix_ternary(&w, 3, 576, TernaryMethod::AbsmeanTensor).unwrap();
    assert_eq!(ty, GgmlType::TP1_G64);
    assert_eq!(quant::decode_trit_planes(ty, &b), (vec![trits], vec![vec![f16::from_f32(gamma); 27]]));
    // cols = 1152 (= 4.5·256) → TP1_G128.
    let w = rng.weights(2 * 1152, 0.02);
    assert_eq!(
        ternary::quantize_matrix_ternary(&w, 2, 1152, TernaryMethod::AbsmeanTensor).unwrap().0,
        GgmlType::TP1_G128
    );
    // Per group: the (parallel) matrix path equals the row quantizer.
    let (rows, cols) = (37, 576);
    let w = rng.weights(rows * cols, 0.02);
    for (method, ty) in [
        (TernaryMethod::AbsmeanGroup(32), GgmlType::TP1_G32),
        (TernaryMethod::AbsmeanGroup(64), GgmlType::TP1_G64),
        (TernaryMethod::Ptqtp(32), GgmlType::TP2_G32),
        (TernaryMethod::Ptqtp(64), GgmlType::TP2_G64),
    ] {
        let (t, b) = ternary::quantize_matrix_ternary(&w, rows, cols, method).unwrap();
        assert_eq!(t, ty);
        assert_eq!(b, quant::quantize(ty, &w).unwrap(), "{method:?}");
    }
}

#[test]
fn bad_shapes_are_clear_errors() {
    let w = vec![0.1f32; 3 * 100];
    assert_invalid(Int4Linear::quantize(&w, 3, 100, 64), &["100", "64"]);
    assert_invalid(Int4Linear::quantize(&w, 4, 100, 50), &["300", "[4, 100]"]);
    assert_invalid(ternary::quantize_matrix_ternary(&w, 3, 100, TernaryMethod::Ptqtp(64)), &["100", "64"]);
    assert_invalid(ternary::quantize_matrix_ternary(&w, 3, 100, TernaryMethod::AbsmeanGroup(32)), &["100", "32"]);
    assert_invalid(ternary::quantize_matrix_ternary(&w, 3, 100, TernaryMethod::AbsmeanTensor), &["100", "256", "32"]);
    assert_invalid(ternary::quantize_matrix_ternary(&w, 5, 100, TernaryMethod::Ptqtp(64)), &["300", "[5, 100]"]);
    assert_invalid(ternary::quantize_matrix_ternary(&vec![0.0; 3 * 96], 3, 96, TernaryMethod::Ptqtp(48)), &["48"]);
    assert_invalid(quant::quantize(GgmlType::TP2_G64, &w), &["300", "64"]);
    assert_invalid(quant::quantize(GgmlType::AWQ4_G128, &w), &["300", "128"]);
    assert_invalid(ternary::quantize_row(GgmlType::TP1_G32, &w[..100]), &["100", "32"]);
    assert_invalid(ternary::quantize_row(GgmlType::Q8_0, &w), &["Q8_0"]);
    assert_invalid(ternary::absmean_groups(&w, 64), &["300", "64"]);
    assert_invalid(ternary::pack_i2s(&[0; 100], 1.0), &["100", "128"]);
    assert_invalid(ternary::pack_i2s(&[2; 128], 1.0), &["2"]);
    assert_invalid(ternary::unpack_i2s(&[0; 63], 128), &["63", "128"]);
    assert_invalid(ternary::encode_tq(GgmlType::TQ2_0, &[0; 255], &[f16::ONE]), &["255", "256"]);
    assert_invalid(ternary::encode_tq(GgmlType::TQ2_0, &[0; 256], &[]), &["256", "0 scales"]);
    assert_invalid(ternary::encode_tq(GgmlType::Q4_0, &[0; 256], &[f16::ONE]), &["Q4_0"]);
    assert_invalid(ternary::decode_tq(GgmlType::TQ1_0, &[0; 53]), &["53"]);
    let l = Int4Linear::quantize(&vec![0.1f32; 12 * 64], 12, 64, 32).unwrap();
    assert_invalid(awq::pack_gemm(&l), &["12"]);
    assert_invalid(awq::gemv_zeros_width(64, 16), &["16"]);
}
