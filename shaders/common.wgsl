// Shared declarations of the colour-conversion kernels (prepended to each kernel).
//
// WGSL has no 8-bit storage type, so frames travel as arrays of u32 words holding four
// bytes each, little-endian (byte k of a word is bits 8k..8k+7). Input planes keep the
// caller's row stride, which need not be a multiple of four: loads combine two words when
// a pixel straddles them. Output rows are padded to whole words so every invocation
// writes whole words that no other invocation touches.

struct Plane {
    offset: u32,   // byte offset of the plane in its buffer
    stride: u32,   // bytes from one row to the next
    width: u32,    // samples per row
    height: u32,   // rows
}

// A filter table in `filters`: per output sample `[start, count, taps x f32 weight]`.
struct Table {
    offset: u32,   // in words
    taps: u32,
    len: u32,
    pad: u32,
}

struct Params {
    src: array<Plane, 3>,
    dst: array<Plane, 3>,
    // 0: luma x, 1: luma y, 2: chroma x, 3: chroma y
    tables: array<Table, 4>,
    // Affine colour matrix rows: out = dot(coef.xyz, in) + coef.w
    coef: array<vec4<f32>, 3>,
    // x: red and blue swapped (BGRA), y: bytes between chroma samples (1 planar, 2 NV12)
    flags: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> filters: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

fn load_byte(offset: u32) -> u32 {
    return (src[offset >> 2u] >> ((offset & 3u) * 8u)) & 0xffu;
}

// Four bytes starting at any byte offset (the upload is padded by one word).
fn load_word(offset: u32) -> u32 {
    let shift = (offset & 3u) * 8u;
    let i = offset >> 2u;
    if shift == 0u {
        return src[i];
    }
    return (src[i] >> shift) | (src[i + 1u] << (32u - shift));
}

fn to_code(v: f32) -> u32 {
    return u32(clamp(floor(v + 0.5), 0.0, 255.0));
}

fn weight(record: u32, k: u32) -> f32 {
    return bitcast<f32>(filters[record + 2u + k]);
}

// Filtered value of a one-byte-per-sample plane at output sample (x, y), with samples
// `step` bytes apart. `tx`/`ty` pick the filter tables.
fn sample_plane(plane: Plane, step: u32, tx: u32, ty: u32, x: u32, y: u32) -> f32 {
    let bx = params.tables[tx];
    let by = params.tables[ty];
    let rx = bx.offset + x * (bx.taps + 2u);
    let ry = by.offset + y * (by.taps + 2u);
    let x0 = filters[rx];
    let nx = filters[rx + 1u];
    let y0 = filters[ry];
    let ny = filters[ry + 1u];
    var acc = 0.0;
    for (var j = 0u; j < ny; j++) {
        let row = plane.offset + (y0 + j) * plane.stride + x0 * step;
        var racc = 0.0;
        for (var i = 0u; i < nx; i++) {
            racc += weight(rx, i) * f32(load_byte(row + i * step));
        }
        acc += weight(ry, j) * racc;
    }
    return acc;
}

// Filtered R, G, B (code values) of the packed RGBA/BGRA source plane at output (x, y).
fn sample_rgb(tx: u32, ty: u32, x: u32, y: u32) -> vec3<f32> {
    let plane = params.src[0];
    let bx = params.tables[tx];
    let by = params.tables[ty];
    let rx = bx.offset + x * (bx.taps + 2u);
    let ry = by.offset + y * (by.taps + 2u);
    let x0 = filters[rx];
    let nx = filters[rx + 1u];
    let y0 = filters[ry];
    let ny = filters[ry + 1u];
    var acc = vec3<f32>(0.0);
    for (var j = 0u; j < ny; j++) {
        let row = plane.offset + (y0 + j) * plane.stride + x0 * 4u;
        var racc = vec3<f32>(0.0);
        for (var i = 0u; i < nx; i++) {
            let p = load_word(row + i * 4u);
            let c = vec3<f32>(f32(p & 0xffu), f32((p >> 8u) & 0xffu), f32((p >> 16u) & 0xffu));
            racc += weight(rx, i) * c;
        }
        acc += weight(ry, j) * racc;
    }
    if params.flags.x != 0u {
        return acc.zyx;
    }
    return acc;
}

fn affine(row: u32, v: vec3<f32>) -> f32 {
    let c = params.coef[row];
    return dot(c.xyz, v) + c.w;
}
