/**
 * The entry-point prologue of every kernel dispatched over a split linear grid
 * (src/backends/webgpu/wgsl.ts `linearGrid`): the grid may be 1-, 2- or 3-D to stay
 * within maxComputeWorkgroupsPerDimension, and the prologue recovers the linear
 * invocation index from the workgroup id, the local id and `num_workgroups`.
 */

/**
 * WGSL opening `fn main` for workgroups of `wg` invocations: declares `index` (u32)
 * as the linear invocation index and, when `bound` is given, returns early for
 * `index >= bound`. The caller writes the body and the closing brace.
 */
export function linearEntry(wg: number, index: string, bound?: string): string {
  const lines = [
    `@compute @workgroup_size(${wg})`,
    'fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {',
    `  let ${index} = ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * ${wg}u + lid.x;`,
  ];
  if (bound !== undefined) lines.push(`  if (${index} >= ${bound}) { return; }`);
  return lines.join('\n');
}
