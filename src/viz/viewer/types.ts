/**
 * The data the HTML viewer reads from its `<script type="application/json">` block.
 * Shared by the generator (html.ts) and the viewer script (bundled into the page).
 */
import type { PlacedGraph } from '../layout.js';
import type { MemoryView } from '../memory.js';

/** Time of one kernel (a node, or a fused kernel named after its Fused node). */
export interface ProfileRow {
  readonly kernel: string;
  readonly op: string;
  readonly ms: number;
}

/** One side of the view (one pane; two with --diff). */
export interface ViewerPane {
  readonly label: string;
  readonly graph: PlacedGraph;
  readonly memory?: MemoryView;
  readonly profile?: readonly ProfileRow[];
  /** Node name → part of a training step (forward, backward, update), for the 'phase' colouring. */
  readonly phases?: Readonly<Record<string, StepPhase>>;
}

/** Which part of a training step a node belongs to. */
export type StepPhase = 'forward' | 'backward' | 'update';

/** The whole document. */
export interface ViewerDoc {
  readonly title: string;
  readonly panes: readonly ViewerPane[];
}
