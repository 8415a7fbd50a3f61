// Seeded N(0, 1) noise: value i of a seed depends only on (seed, counterOffset + i).
// Philox-4x32-10 on u32 (64-bit products from 16-bit halves), then Box–Muller; see philox.ts,
// whose CPU twin repeats these operations exactly.
override WORKGROUP_SIZE: u32 = 64u;

struct Params {
  count: u32,
  outOffset: u32,
  counterOffset: u32,
  seedLo: u32,
  seedHi: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

fn mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) {
      k = k + vec2<u32>(0x9e3779b9u, 0xbb67ae85u);
    }
    let hi0 = mulhi(0xd2511f53u, c.x);
    let lo0 = 0xd2511f53u * c.x;
    let hi1 = mulhi(0xcd9e8d57u, c.z);
    let lo1 = 0xcd9e8d57u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// ln(n * 2^-24) for n in [1, 2^24] and cos on [-pi, pi] from f32 + and * only (the CPU twin in
// philox.ts repeats them): WGSL's built-in log/cos may be much less accurate (SwiftShader's cos is
// off by ~2e-4), which would break agreement with the CPU. Constants are exact f32 values.
fn ln_unit(n: u32) -> f32 {
  // n = m * 2^e with m in [sqrt(1/2), sqrt(2)], both exact.
  var e = i32(firstLeadingBit(n));
  var m = ldexp(f32(n), -e);
  if (m > 1.4142135381698608) {
    m = m * 0.5;
    e = e + 1;
  }
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  var p = 0.07692307978868484;
  p = p * s2 + 0.09090909361839294;
  p = p * s2 + 0.1111111119389534;
  p = p * s2 + 0.1428571492433548;
  p = p * s2 + 0.20000000298023224;
  p = p * s2 + 0.3333333432674408;
  p = p * s2 + 1.0;
  return (2.0 * s) * p + f32(e - 24) * 0.6931471824645996;
}

fn cos_folded(theta: f32) -> f32 {
  var a = abs(theta);
  var sign = 1.0;
  if (a > 1.5707963705062866) {
    a = 3.1415927410125732 - a;
    sign = -1.0;
  }
  let a2 = a * a;
  var p = 4.7794772561329454e-14;
  p = p * a2 - 1.147074536050896e-11;
  p = p * a2 + 2.0876755879584152e-09;
  p = p * a2 - 2.755731998149713e-07;
  p = p * a2 + 2.4801587642286904e-05;
  p = p * a2 - 0.0013888889225199819;
  p = p * a2 + 0.0416666679084301;
  p = p * a2 - 0.5;
  p = p * a2 + 1.0;
  return sign * p;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = id.x + id.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) { return; }
  let r = philox(vec4<u32>(params.counterOffset + i, 0u, 0u, 0u), vec2<u32>(params.seedLo, params.seedHi));
  // u1 = n * 2^-24 in (0, 1], so its log is finite; u2 in [0, 1). Both exact in f32.
  let n = (r.x >> 8u) + 1u;
  let u2 = f32(r.y >> 8u) * 5.9604644775390625e-8;
  let radius = sqrt(-2.0 * ln_unit(n));
  let theta = 6.2831854820251465 * u2 - 3.1415927410125732;
  out[params.outOffset + i] = radius * cos_folded(theta);
}
