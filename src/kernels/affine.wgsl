// Per-channel affine over a [C, L] tensor: out[c, k] = x[c, k] * scale[c] + bias[c]
// (latent de-normalization z = x * std + mean before the VAE). `coefficients` holds scale[0..C)
// followed by bias[0..C). Input and output live in "slots" (KernelManager.bindSlots), so the
// output may be the input itself.
override WORKGROUP_SIZE: u32 = 64u;

struct Params {
  count: u32,
  channels: u32,
  channelLength: u32,
  inSlot: u32,
  inOffset: u32,
  outSlot: u32,
  outOffset: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> slot0: array<f32>;
@group(0) @binding(2) var<storage, read_write> slot1: array<f32>;
@group(0) @binding(3) var<storage, read> coefficients: array<f32>;

fn load(slot: u32, i: u32) -> f32 {
  if (slot == 0u) { return slot0[i]; }
  return slot1[i];
}

fn store(slot: u32, i: u32, v: f32) {
  if (slot == 0u) { slot0[i] = v; } else { slot1[i] = v; }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = id.x + id.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) { return; }
  let channel = i / params.channelLength;
  let v = load(params.inSlot, params.inOffset + i);
  store(params.outSlot, params.outOffset + i, v * coefficients[channel] + coefficients[params.channels + channel]);
}
