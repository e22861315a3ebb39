"""Independent reference for tritium's weight spectra (crate/src/analysis): the `weightwatcher`
PyPI package (0.7.7) run on matrices of a GGUF model dequantized with the `gguf` package.

For each tensor name given, the weight is dequantized (gguf.quants.dequantize, float32, shape
[rows, cols] as in nn.Linear), put into a dict {"<name>.weight": ndarray} and analysed by
WeightWatcher's dict-of-arrays (PYSTATEDICT) path with its defaults (pl_package "ww", xmin by
KS scan, eigenvalues of the raw W^T W, no 1/N) plus mp_fit=True. The dict path compares the
weights' type against torch.Tensor; torch is not installed, so weightwatcher.weightwatcher.torch
is set to a stub with a `Tensor` type first.

Also prints numpy's eigvalsh of W^T W (float64) for each matrix, to check the eigenvalues.

With --farms=NAME[,NAME...], those matrices also get FARMS (docs/algorithms.md §4.5 `fixed_sampling`, written
here in numpy from the spec: 100-row windows, aspect ratio 2, 10 starts per dimension, squared
np.linalg.svd singular values pooled, xmin_mid Hill estimate) under "farms": {alpha, xmin, n_evals}.

Usage: python ww_ref.py MODEL.gguf [--farms=NAMES] TENSOR_NAME [TENSOR_NAME ...]
Prints one JSON object: {"matrices": [{name, rows, cols, alpha, xmin, D, sigma, num_pl_spikes,
  alpha_weighted, spectral_norm, log_norm, stable_rank, entropy, num_spikes, bulk_max, sigma_mp,
  num_evals, evals (numpy eigvalsh of W^T W, ascending), mp_eigvalsh (WeightWatcher's MP fit run
  on those eigvalsh eigenvalues: sigma_mp, bulk_max, num_spikes)}]}
"""
import contextlib
import json
import logging
import sys
import types
import warnings

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

warnings.simplefilter("ignore")
logging.disable(logging.WARNING)


def load_weightwatcher():
    import weightwatcher
    import weightwatcher.weightwatcher as wwmod

    class _StubTensor:  # never an instance of anything we pass
        pass

    wwmod.torch = types.SimpleNamespace(Tensor=_StubTensor)
    return weightwatcher


def mp_fit_on(evals, n, m):
    """WeightWatcher's mp_fit glue (weightwatcher.py) around its RMT_Util.fit_density_with_range,
    on given eigenvalues: lets the test compare the MP procedure on identical inputs (WeightWatcher's
    KDE peak can tie between grid points, so eigenvalues that differ by 1e-13 may pick another σ)."""
    from weightwatcher import RMT_Util
    q = n / m
    wscale = np.sqrt(len(evals)) / np.sqrt(np.sum(evals))
    to_plot = wscale * wscale * evals
    s1, _ = RMT_Util.fit_density_with_range(to_plot, q, bw=0.1)
    bulk_max = (s1 * (1 + 1 / np.sqrt(q))) ** 2
    tw = 1 / np.sqrt(q) * np.power(bulk_max, 2 / 3) * np.power(m, -2 / 3)
    spikes = int(np.sum(to_plot > bulk_max + np.sqrt(tw)))
    return {"sigma_mp": float(s1), "bulk_max": float(bulk_max / wscale ** 2), "num_spikes": spikes}


def farms_numpy(w, num_row_samples=100, q_ratio=2.0, ops=10):
    rows, cols = w.shape
    m = min(num_row_samples, rows, cols)
    mc = int(m * q_ratio)
    row_step = max(1, (rows - m) // (ops - 1))
    col_step = max(1, (cols - mc) // (ops - 1))
    n_rw = min(ops, max(1, (rows - m) // row_step + 1))
    n_cw = min(ops, max(1, (cols - mc) // col_step + 1))
    w = w.astype(np.float64)
    eigs = []
    for i in range(n_rw):
        r = min(i * row_step, rows - m)
        for j in range(n_cw):
            c = min(j * col_step, cols - mc)
            eigs.append(np.linalg.svd(w[r:r + m, c:c + mc], compute_uv=False) ** 2)
    eigs = np.sort(np.concatenate(eigs))
    eigs = eigs[eigs > 0]
    n = len(eigs)
    i = n // 2
    tail = np.log(eigs[i:])
    alpha = 1 + (n - i) / (np.sum(tail) - (n - i) * tail[0])
    return {"alpha": float(alpha), "xmin": float(eigs[i]), "n_evals": int(n)}


def main():
    args = sys.argv[1:]
    farms = set()
    for a in [a for a in args if a.startswith("--farms=")]:
        farms.update(a[len("--farms="):].split(","))
        args.remove(a)
    path, names = args[0], args[1:]
    reader = GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    with contextlib.redirect_stdout(sys.stderr):
        ww = load_weightwatcher()
    out = []
    for name in names:
        t = tensors[name]
        cols, rows = int(t.shape[0]), int(t.shape[1])
        w = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(rows, cols)
        key = name[: -len(".weight")] if name.endswith(".weight") else name
        watcher = ww.WeightWatcher()
        with contextlib.redirect_stdout(sys.stderr):  # weightwatcher prints banners
            details = watcher.analyze(model={key + ".weight": w}, mp_fit=True)
        assert len(details) == 1, f"weightwatcher analysed {len(details)} layers for {name}"
        d = details.iloc[0]
        w64 = w.astype(np.float64)
        gram = w64.T @ w64 if rows >= cols else w64 @ w64.T
        evals = np.linalg.eigvalsh(gram)
        rec = {"name": name, "rows": rows, "cols": cols, "evals": evals.tolist()}
        rec["mp_eigvalsh"] = mp_fit_on(np.clip(evals, 0, None), max(rows, cols), min(rows, cols))
        if name in farms:
            rec["farms"] = farms_numpy(w)
        for k in ["alpha", "xmin", "D", "sigma", "num_pl_spikes", "alpha_weighted", "spectral_norm",
                  "log_norm", "stable_rank", "entropy", "num_spikes", "bulk_max", "bulk_min", "sigma_mp",
                  "num_evals", "log_spectral_norm", "log_alpha_norm", "mp_softrank"]:
            v = d.get(k)
            rec[k] = None if v is None else float(v)
        out.append(rec)
    print(json.dumps({"matrices": out}))


if __name__ == "__main__":
    main()
