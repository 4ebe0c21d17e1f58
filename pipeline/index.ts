/** The pipeline's public API: what workers, the API, eval and the CLI import. */
export { inspect, type InspectDeps, type PipelineMaps } from './inspect.js';
export { renderOverlay, OVERLAY_MAX_SIDE, type RenderOverlayOptions } from './overlay.js';
export { createModelRegistry, loadModel, type LoadedModel, type ModelInfo, type ModelLease, type ModelRegistry, type RegistryOptions } from './registry.js';
export { loadProfiles, profileSetFrom, profileVersion, canonicalJson, DEFAULT_PROFILES_PATH, PROFILES_ENV, type ProfileSet, type LoadProfilesOptions } from './profiles.js';
export { PipelineError, isPipelineError, PIPELINE_ERRORS, type PipelineErrorCode } from './errors.js';
export { probePhoto, decodePhoto, sha256Hex } from './decode.js';
export { analyseSpacing, orderRow, type SpacingInput, type SpacingAnalysis } from './postprocess/spacing.js';
export { decodeRle, encodeRle } from './postprocess/rle.js';
export * from './report.schema.js';
export * from './profile.schema.js';
export { ModelManifestSchema, type ModelManifest } from './model-manifest.schema.js';
