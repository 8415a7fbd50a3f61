export type { ComponentName, Stage, CloudState, ProgressEvent, ProgressListener } from './events';
export {
  ProgressTracker, DEFAULT_STAGE_WEIGHTS,
  type StagePlan, type TrackedStage, type ProgressTrackerOptions, type LoadEvent, type StageEvent, type ProgressDownload, type ProgressWarning,
} from './tracker';
