import { z } from "zod";

export interface GeoPoint {
  lat: number;
  lon: number;
  altM: number;
}

export type FlightSource =
  | { kind: "api"; url: string }
  | { kind: "file"; path: string; format: FlightFileFormat };

export type FlightFileFormat = "native-json" | "qgc-plan" | "qgc-wpl";

export interface Flight {
  id: string;
  name: string;
  updatedAt: string | undefined;
  takeoff: GeoPoint;
  waypoints: GeoPoint[];
  source: FlightSource;
}

const geoPoint = z.object({
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
  altM: z.number(),
});

/** The Flights API payload, also the native flight file format. */
export const flightPayloadSchema = z.object({
  id: z.string().min(1),
  name: z.string(),
  updatedAt: z.iso.datetime({ offset: true }),
  takeoff: geoPoint,
  waypoints: z.array(geoPoint).min(1, "a flight needs at least one waypoint"),
});

export type FlightPayload = z.infer<typeof flightPayloadSchema>;

/** Flight ids travel in a URL path and in file names, so keep them to a safe alphabet. */
export const FLIGHT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
