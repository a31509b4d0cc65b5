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
export type { FileDigestCacheOptions } from "./digest-cache.js";
export { FileDigestCache } from "./digest-cache.js";
export type { FileDigest } from "./file-digest.js";
export { digestFile, sha256Hex, sha256OfFile, sha256OfFileSync } from "./file-digest.js";
export type {
  CommittedFile,
  Durability,
  GroupCommitWriterOptions,
  OnFileCommitted,
} from "./group-commit-writer.js";
export { GroupCommitWriter } from "./group-commit-writer.js";
export type {
  PipelinedAtomicWriterOptions,
  PipelinedCommit,
  PipelinedWriteOptions,
} from "./pipelined-writer.js";
export { PipelinedAtomicWriter, PipelinedWriteError } from "./pipelined-writer.js";
