export type { WriteAtomicOptions } from "./atomic-file.js";
export {
  commitTempFile,
  isTempFile,
  removeStaleTempFiles,
  tempPathFor,
  writeFileAtomic,
  writeJsonAtomic,
} from "./atomic-file.js";
export { PipelinedAtomicWriter } from "./pipelined-writer.js";
