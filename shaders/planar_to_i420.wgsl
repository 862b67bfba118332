// NV12 or I420 -> I420 with scaling, in one dispatch; z picks the plane (0 Y, 1 Cb, 2 Cr).
// For NV12 the host describes Cb and Cr as the same interleaved plane, Cr one byte later,
// with samples two bytes apart (flags.y).

@compute @workgroup_size(16, 4, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let z = id.z;
    let d = params.dst[z];
    let x0 = id.x * 4u;
    if x0 >= d.width || id.y >= d.height {
        return;
    }
    var step = 1u;
    var tx = 0u;
    if z != 0u {
        step = params.flags.y;
        tx = 2u;
    }
    let s = params.src[z];
    var word = 0u;
    for (var k = 0u; k < 4u; k++) {
        let x = x0 + k;
        if x < d.width {
            word |= to_code(sample_plane(s, step, tx, tx + 1u, x, id.y)) << (8u * k);
        }
    }
    dst[(d.offset + id.y * d.stride) / 4u + id.x] = word;
}
