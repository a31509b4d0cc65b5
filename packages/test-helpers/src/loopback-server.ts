// The loopback servers live in the demo environment, which the CLI's demo runs on.
export { freePort } from "@operator-tool/demo-environment";
