// I420 or NV12 -> RGBA or BGRA with scaling (for display); one output pixel (one word)
// per invocation. Chroma is upsampled bilinearly from the source chroma plane.

@compute @workgroup_size(16, 4, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let d = params.dst[0];
    if id.x >= d.width || id.y >= d.height {
        return;
    }
    let step = params.flags.y;
    let l = sample_plane(params.src[0], 1u, 0u, 1u, id.x, id.y);
    let u = sample_plane(params.src[1], step, 2u, 3u, id.x, id.y);
    let v = sample_plane(params.src[2], step, 2u, 3u, id.x, id.y);
    let yuv = vec3<f32>(l, u, v);
    var r = to_code(affine(0u, yuv));
    let g = to_code(affine(1u, yuv));
    var b = to_code(affine(2u, yuv));
    if params.flags.x != 0u {
        let t = r;
        r = b;
        b = t;
    }
    dst[(d.offset + id.y * d.stride) / 4u + id.x] = r | (g << 8u) | (b << 16u) | (255u << 24u);
}
