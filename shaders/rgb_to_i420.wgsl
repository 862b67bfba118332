// RGBA or BGRA -> I420 with scaling, in one dispatch.
// z = 0: each invocation writes four luma samples (one word) of row y.
// z = 1: each invocation writes four Cb and four Cr samples of chroma row y.

@compute @workgroup_size(16, 4, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let x0 = id.x * 4u;
    if id.z == 0u {
        let d = params.dst[0];
        if x0 >= d.width || id.y >= d.height {
            return;
        }
        var word = 0u;
        for (var k = 0u; k < 4u; k++) {
            let x = x0 + k;
            if x < d.width {
                let rgb = sample_rgb(0u, 1u, x, id.y);
                word |= to_code(affine(0u, rgb)) << (8u * k);
            }
        }
        dst[(d.offset + id.y * d.stride) / 4u + id.x] = word;
    } else {
        let du = params.dst[1];
        let dv = params.dst[2];
        if x0 >= du.width || id.y >= du.height {
            return;
        }
        var word_u = 0u;
        var word_v = 0u;
        for (var k = 0u; k < 4u; k++) {
            let x = x0 + k;
            if x < du.width {
                let rgb = sample_rgb(2u, 3u, x, id.y);
                word_u |= to_code(affine(1u, rgb)) << (8u * k);
                word_v |= to_code(affine(2u, rgb)) << (8u * k);
            }
        }
        dst[(du.offset + id.y * du.stride) / 4u + id.x] = word_u;
        dst[(dv.offset + id.y * dv.stride) / 4u + id.x] = word_v;
    }
}
