export type { WriteAtomicOptions } from "./atomic-file.js";
export {
  commitTempFile,
  isTempFile,
  processAlive,
  removeStaleTempFiles,
  tempPathFor,
  writeFileAtomic,
  writeJsonAtomic,
} from "./atomic-file.js";
export type { GroupCommitWriterOptions, OnFileCommitted } from "./group-commit-writer.js";
export { GroupCommitWriter } from "./group-commit-writer.js";
export type {
  CommittedFile,
  PipelinedAtomicWriterOptions,
  PipelinedWriteOptions,
} from "./pipelined-writer.js";
export { PipelinedAtomicWriter, PipelinedWriteError } from "./pipelined-writer.js";
