// A float video [3, F, H, W] in [-1, 1] -> packed RGBA8 (one u32 per pixel, bytes R, G, B, A=255
// little-endian), frame-major [frameCount, H*s, W*s]; the caller binds the frames in range.
// filterMode 0 = nearest, 1 = bilinear with pixel-centre alignment, clamped at the edges. The source
// coordinate (o + 1/2)/s - 1/2 is kept as the exact fraction num / 2s, so integer indices match the
// CPU twin exactly. Bytes are floor((v + 1) * 127.5 + 0.5) clamped to 0..255.
override WORKGROUP_SIZE: u32 = 64u;

struct Params {
  count: u32,
  height: u32,
  width: u32,
  scale: u32,
  filterMode: u32,
  rOffset: u32,
  gOffset: u32,
  bOffset: u32,
  outOffset: u32,
}

// One read-only binding per colour plane, each covering only the frames in range, so converting one
// frame of a long video stays far below maxStorageBufferBindingSize. Read-only bindings may overlap.
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> red: array<f32>;
@group(0) @binding(2) var<storage, read> green: array<f32>;
@group(0) @binding(3) var<storage, read> blue: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;

// (i0, i1, weight of i1) along one axis.
struct Tap { i0: u32, i1: u32, w: f32 }

fn tap(o: u32, size: u32) -> Tap {
  let s = params.scale;
  if (params.filterMode == 0u) {
    let i = o / s;
    return Tap(i, i, 0.0);
  }
  let num = i32(2u * o + 1u) - i32(s);
  if (num <= 0) { return Tap(0u, 0u, 0.0); }
  let twoS = 2u * s;
  let i0 = u32(num) / twoS;
  if (i0 >= size - 1u) { return Tap(size - 1u, size - 1u, 0.0); }
  return Tap(i0, i0 + 1u, f32(u32(num) - i0 * twoS) / f32(twoS));
}

fn toByte(v: f32) -> u32 {
  return u32(clamp(floor((v + 1.0) * 127.5 + 0.5), 0.0, 255.0));
}

fn load(ch: u32, i: u32) -> f32 {
  switch ch {
    case 0u: { return red[params.rOffset + i]; }
    case 1u: { return green[params.gOffset + i]; }
    default: { return blue[params.bOffset + i]; }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = id.x + id.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) { return; }
  let outWidth = params.width * params.scale;
  let outHeight = params.height * params.scale;
  let ox = i % outWidth;
  let oy = (i / outWidth) % outHeight;
  let frame = i / (outWidth * outHeight);
  let plane = params.height * params.width;
  let ty = tap(oy, params.height);
  let tx = tap(ox, params.width);
  var rgba = 0xff000000u;
  for (var ch = 0u; ch < 3u; ch++) {
    let base = frame * plane;
    let p00 = load(ch, base + ty.i0 * params.width + tx.i0);
    let p01 = load(ch, base + ty.i0 * params.width + tx.i1);
    let p10 = load(ch, base + ty.i1 * params.width + tx.i0);
    let p11 = load(ch, base + ty.i1 * params.width + tx.i1);
    let top = p00 + tx.w * (p01 - p00);
    let bottom = p10 + tx.w * (p11 - p10);
    rgba = rgba | (toByte(top + ty.w * (bottom - top)) << (8u * ch));
  }
  out[params.outOffset + i] = rgba;
}
