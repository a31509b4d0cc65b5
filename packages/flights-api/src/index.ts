export {
  FlightFileInvalidError,
  FlightFileUnreadableError,
  FlightNotFoundError,
  FlightPayloadError,
  FlightsApiAuthError,
  FlightsApiUnreachableError,
} from "./errors.js";
export type { FetchFlightOptions, FlightsApiLogger } from "./fetch-flight.js";
export { fetchFlight, flightUrl } from "./fetch-flight.js";
export type { Flight, FlightFileFormat, FlightPayload, FlightSource, GeoPoint } from "./flight.js";
export { FLIGHT_ID_PATTERN, flightPayloadSchema } from "./flight.js";
export type { BoundingBox, FlightBounds } from "./flight-bounds.js";
export { boxContains, EARTH_RADIUS_M, flightBounds, WEB_MERCATOR_MAX_LAT } from "./flight-bounds.js";
export { loadFlightFile } from "./load-flight-file.js";
