import { OperatorToolError, type OperatorToolErrorOptions } from "@operator-tool/errors";

export class FlightNotFoundError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("FLIGHT_NOT_FOUND", message, options);
  }
}

export class FlightsApiAuthError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("FLIGHTS_API_AUTH_REJECTED", message, options);
  }
}

export class FlightsApiUnreachableError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("FLIGHTS_API_UNREACHABLE", message, options);
  }
}

export class FlightPayloadError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("FLIGHT_PAYLOAD_INVALID", message, options);
  }
}

export class FlightFileUnreadableError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("FLIGHT_FILE_UNREADABLE", message, options);
  }
}

export class FlightFileInvalidError extends OperatorToolError {
  constructor(message: string, options?: OperatorToolErrorOptions) {
    super("FLIGHT_FILE_INVALID", message, options);
  }
}
