// One scheduler step as the general linear update of a plan (src/schedulers/types.ts):
//   x0 = c*x + d*m, clamped to +-clipRange when clip != 0;  xNext = e*x0 + f*m + g*x;
// x0 is written only when writeX0 != 0 (previews).
// Arguments live in "slots" (one binding per distinct buffer, see KernelManager.bindSlots); each element
// is read before it is written, so xNext may be exactly x (in place).
override WORKGROUP_SIZE: u32 = 64u;

struct Params {
  count: u32,
  xSlot: u32,
  xOffset: u32,
  mSlot: u32,
  mOffset: u32,
  nextSlot: u32,
  nextOffset: u32,
  x0Slot: u32,
  x0Offset: u32,
  writeX0: u32,
  clip: u32,
  clipRange: f32,
  c: f32,
  d: f32,
  e: f32,
  f: f32,
  g: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> slot0: array<f32>;
@group(0) @binding(2) var<storage, read_write> slot1: array<f32>;
@group(0) @binding(3) var<storage, read_write> slot2: array<f32>;
@group(0) @binding(4) var<storage, read_write> slot3: array<f32>;

fn load(slot: u32, i: u32) -> f32 {
  switch slot {
    case 0u: { return slot0[i]; }
    case 1u: { return slot1[i]; }
    case 2u: { return slot2[i]; }
    default: { return slot3[i]; }
  }
}

fn store(slot: u32, i: u32, v: f32) {
  switch slot {
    case 0u: { slot0[i] = v; }
    case 1u: { slot1[i] = v; }
    case 2u: { slot2[i] = v; }
    default: { slot3[i] = v; }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = id.x + id.y * groups.x * WORKGROUP_SIZE;
  if (i >= params.count) { return; }
  let x = load(params.xSlot, params.xOffset + i);
  let m = load(params.mSlot, params.mOffset + i);
  var x0 = params.c * x + params.d * m;
  if (params.clip != 0u) {
    x0 = clamp(x0, -params.clipRange, params.clipRange);
  }
  store(params.nextSlot, params.nextOffset + i, params.e * x0 + params.f * m + params.g * x);
  if (params.writeX0 != 0u) {
    store(params.x0Slot, params.x0Offset + i, x0);
  }
}
