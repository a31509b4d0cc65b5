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
export { PipelinedAtomicWriter } from "./pipelined-writer.js";
