// mod_compact: the layer's kept list from its kept flags: sel[p.kept + r] = the r-th prompt
// index (increasing) whose flag sel[layer·n + i] is 1.
// Bindings: see mod_common.wgsl. Threads: one workgroup of 256; thread t scans the contiguous
// segment t·⌈n/256⌉ …, the segment counts are prefix-summed in workgroup memory, then each thread
// writes its segment's indices.
const WG: u32 = 256u;
var<workgroup> counts: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let n = step.n;
    let base = step.layer * n;
    let seg = (n + WG - 1u) / WG;
    let lo = min(lid.x * seg, n);
    let hi = min(lo + seg, n);
    var c = 0u;
    for (var i = lo; i < hi; i++) {
        c += sel[base + i];
    }
    counts[lid.x] = c;
    workgroupBarrier();
    if (lid.x == 0u) {
        var acc = 0u;
        for (var t = 0u; t < WG; t++) {
            let v = counts[t];
            counts[t] = acc;
            acc += v;
        }
    }
    workgroupBarrier();
    var r = counts[lid.x];
    for (var i = lo; i < hi; i++) {
        if (sel[base + i] != 0u) {
            sel[p.kept + r] = i;
            r += 1u;
        }
    }
}
