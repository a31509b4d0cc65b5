export type { InvokeProvisionerOptions, InvokeResult, RemoteProcessLike } from "./invoke-provisioner.js";
export { invokeProvisioner } from "./invoke-provisioner.js";
export type { RemoteEngineReport } from "./report-schema.js";
export { remoteEngineReportSchema } from "./report-schema.js";
