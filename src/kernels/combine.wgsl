// A linear combination of same-length f32 vectors: out[i] = c0*in0[i] + c1*in1[i] + c2*in2[i] + c3*in3[i],
// summed left to right, for the first `terms` (1..4) inputs. Longer sums are chained by the caller
// (out = 1*out + the next three terms, in place). The samplers' updates are all of this form.
// Arguments live in "slots" (one binding per distinct buffer, see KernelManager.bindSlots); every input
// element is read before the output element is written, so out may be exactly an input's range (in place).
override WORKGROUP_SIZE: u32 = 64u;

struct Params {
  count: u32,
  terms: u32,
  outSlot: u32,
  outOffset: u32,
  slot0: u32,
  offset0: u32,
  slot1: u32,
  offset1: u32,
  slot2: u32,
  offset2: u32,
  slot3: u32,
  offset3: u32,
  c0: f32,
  c1: f32,
  c2: f32,
  c3: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> slot0: array<f32>;
@group(0) @binding(2) var<storage, read_write> slot1: array<f32>;
@group(0) @binding(3) var<storage, read_write> slot2: array<f32>;
@group(0) @binding(4) var<storage, read_write> slot3: array<f32>;
@group(0) @binding(5) var<storage, read_write> slot4: array<f32>;

fn load(slot: u32, i: u32) -> f32 {
  switch slot {
    case 0u: { return slot0[i]; }
    case 1u: { return slot1[i]; }
    case 2u: { return slot2[i]; }
    case 3u: { return slot3[i]; }
    default: { return slot4[i]; }
  }
}

fn store(slot: u32, i: u32, v: f32) {
  switch slot {
    case 0u: { slot0[i] = v; }
    case 1u: { slot1[i] = v; }
    case 2u: { slot2[i] = v; }
    case 3u: { slot3[i] = v; }
    default: { slot4[i] = v; }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = id.x + id.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) { return; }
  var acc = params.c0 * load(params.slot0, params.offset0 + i);
  if (params.terms > 1u) { acc = acc + params.c1 * load(params.slot1, params.offset1 + i); }
  if (params.terms > 2u) { acc = acc + params.c2 * load(params.slot2, params.offset2 + i); }
  if (params.terms > 3u) { acc = acc + params.c3 * load(params.slot3, params.offset3 + i); }
  store(params.outSlot, params.outOffset + i, acc);
}
