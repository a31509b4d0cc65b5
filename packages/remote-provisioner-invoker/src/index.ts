export type { InvokeProvisionerOptions, InvokeResult, RemoteProcessLike } from "./invoke-provisioner.js";
export { invokeProvisioner, RemoteBuildError, RemoteReportError } from "./invoke-provisioner.js";
export { LineSplitter } from "./line-splitter.js";
export type { RemoteEngineReport } from "./report-schema.js";
export { remoteEngineReportSchema } from "./report-schema.js";
