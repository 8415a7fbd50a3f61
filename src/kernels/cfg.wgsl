// Classifier-free guidance: guided[i] = u[i] + g * (c[i] - u[i]) over a [2, N] model output,
// batch 0 unconditional/negative, batch 1 conditional (diffusers' concat order).
// Arguments live in "slots" (one binding per distinct buffer, see KernelManager.bindSlots), so the
// output may be a slice of the model output's own buffer, e.g. in place over the unconditional half.
override WORKGROUP_SIZE: u32 = 64u;

struct Params {
  count: u32,
  inSlot: u32,
  inOffset: u32,
  outSlot: u32,
  outOffset: u32,
  guidanceScale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> slot0: array<f32>;
@group(0) @binding(2) var<storage, read_write> slot1: array<f32>;

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
  let u = load(params.inSlot, params.inOffset + i);
  let c = load(params.inSlot, params.inOffset + params.count + i);
  store(params.outSlot, params.outOffset + i, u + params.guidanceScale * (c - u));
}
