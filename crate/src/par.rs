//! Data parallelism in one place: rayon natively, the same loop run sequentially in wasm (one
//! thread there). Every helper visits the same items with the same arguments on both targets, so
//! results do not depend on the target (only the order in which items run does).

#[cfg(not(target_arch = "wasm32"))]
use rayon::prelude::*;

/// Run `f(index, chunk)` over the `width`-long chunks of `out` (the last one may be shorter).
pub fn for_each_chunk_mut<T, F>(out: &mut [T], width: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    #[cfg(not(target_arch = "wasm32"))]
    out.par_chunks_mut(width).enumerate().for_each(|(i, o)| f(i, o));
    #[cfg(target_arch = "wasm32")]
    out.chunks_mut(width).enumerate().for_each(|(i, o)| f(i, o));
}

/// Run `f(out_chunk, in_chunk, scratch)` over the `out_width`-long chunks of `out` paired with
/// the `in_width`-long chunks of `input`; `scratch` comes from `init`, one per task (reused across
/// the chunks that task runs, so `f` must not depend on what an earlier chunk left in it).
pub fn for_each_chunk_pair_init<T, U, S, I, F>(
    out: &mut [T],
    out_width: usize,
    input: &[U],
    in_width: usize,
    init: I,
    f: F,
) where
    T: Send,
    U: Sync,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut [T], &[U], &mut S) + Sync + Send,
{
    #[cfg(not(target_arch = "wasm32"))]
    out.par_chunks_mut(out_width).zip(input.par_chunks(in_width)).for_each_init(init, |s, (o, r)| f(o, r, s));
    #[cfg(target_arch = "wasm32")]
    {
        let mut s = init();
        for (o, r) in out.chunks_mut(out_width).zip(input.chunks(in_width)) {
            f(o, r, &mut s);
        }
    }
}

/// `items.iter().map(f).collect()`, the calls spread over threads natively; results in order.
pub fn map<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync + Send,
{
    #[cfg(not(target_arch = "wasm32"))]
    return items.par_iter().map(f).collect();
    #[cfg(target_arch = "wasm32")]
    return items.iter().map(f).collect();
}

/// faer's parallelism for its dense products: all cores natively, sequential in wasm.
pub fn faer_par() -> faer::Par {
    #[cfg(not(target_arch = "wasm32"))]
    return faer::Par::rayon(0);
    #[cfg(target_arch = "wasm32")]
    return faer::Par::Seq;
}
