import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { GeoPoint } from "./flight.js";
import { boxContains, EARTH_RADIUS_M, flightBounds, WEB_MERCATOR_MAX_LAT } from "./flight-bounds.js";

const rad = (deg: number) => (deg * Math.PI) / 180;

/** Great-circle distance from a point to the meridian at `lon` (the edge of the box). */
function distanceToMeridian(p: GeoPoint, lon: number): number {
  let delta = Math.abs(p.lon - lon) % 360;
  if (delta > 180) delta = 360 - delta;
  if (delta >= 90) return Number.POSITIVE_INFINITY;
  return EARTH_RADIUS_M * Math.asin(Math.sin(rad(delta)) * Math.cos(rad(p.lat)));
}

const point = (maxLat: number) =>
  fc.record({
    lat: fc.double({ min: -maxLat, max: maxLat, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true }),
    altM: fc.constant(100),
  });

/** A flight a drone can fly: points within ~50 km of the first, anywhere on Earth. */
const localFlight = fc
  .tuple(
    point(84),
    fc.array(
      fc.tuple(
        fc.double({ min: -0.4, max: 0.4, noNaN: true }),
        fc.double({ min: -0.4, max: 0.4, noNaN: true }),
      ),
      {
        minLength: 1,
        maxLength: 12,
      },
    ),
  )
  .map(([origin, offsets]) => [
    origin,
    ...offsets.map(([dLat, dLon]) => ({
      lat: Math.max(-84, Math.min(84, origin.lat + dLat)),
      lon: ((((origin.lon + dLon + 180) % 360) + 360) % 360) - 180,
      altM: 100,
    })),
  ]);

const EPS_M = 1e-3;

describe("flightBounds", () => {
  it("contains every point, wherever on Earth", () => {
    fc.assert(
      fc.property(localFlight, fc.double({ min: 0, max: 20_000, noNaN: true }), (points, buffer) => {
        const box = flightBounds(points, buffer);
        for (const p of points) expect(boxContains(box, p)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps every edge at least the buffer away from every point", () => {
    fc.assert(
      fc.property(localFlight, fc.double({ min: 1, max: 20_000, noNaN: true }), (points, buffer) => {
        const box = flightBounds(points, buffer);
        for (const p of points) {
          if (!box.clampedEdges.includes("north"))
            expect(EARTH_RADIUS_M * rad(box.north - p.lat)).toBeGreaterThanOrEqual(buffer - EPS_M);
          if (!box.clampedEdges.includes("south"))
            expect(EARTH_RADIUS_M * rad(p.lat - box.south)).toBeGreaterThanOrEqual(buffer - EPS_M);
          if (!box.coversAllLongitudes) {
            expect(distanceToMeridian(p, box.west)).toBeGreaterThanOrEqual(buffer - EPS_M);
            expect(distanceToMeridian(p, box.east)).toBeGreaterThanOrEqual(buffer - EPS_M);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("never spans more longitude than the points need plus the buffer (no silent inversion)", () => {
    fc.assert(
      fc.property(localFlight, (points) => {
        const box = flightBounds(points, 500);
        const span = box.crossesAntimeridian ? box.east + 360 - box.west : box.east - box.west;
        // Points lie within ±0.4° of the origin, so the box is far narrower than the globe.
        expect(span).toBeLessThan(5);
        expect(box.crossesAntimeridian).toBe(box.west > box.east);
      }),
      { numRuns: 500 },
    );
  });

  it("represents a flight across the antimeridian as west > east", () => {
    const box = flightBounds(
      [
        { lat: -16.5, lon: 179.9, altM: 0 },
        { lat: -16.4, lon: -179.9, altM: 0 },
      ],
      1000,
    );
    expect(box.crossesAntimeridian).toBe(true);
    expect(box.west).toBeGreaterThan(179.8);
    expect(box.west).toBeLessThan(179.9);
    expect(box.east).toBeLessThan(-179.8);
    expect(box.east).toBeGreaterThan(-179.9);
    expect(box.widthKm).toBeLessThan(25);
  });

  it("clamps near the poles to the Web-Mercator limit and says so", () => {
    const box = flightBounds([{ lat: 85.04, lon: 10, altM: 0 }], 5000);
    expect(box.north).toBe(WEB_MERCATOR_MAX_LAT);
    expect(box.clampedEdges).toEqual(["north"]);
    const south = flightBounds([{ lat: -85.04, lon: 10, altM: 0 }], 5000);
    expect(south.clampedEdges).toEqual(["south"]);
  });

  it("widens longitude more at high latitude than at the equator for the same buffer", () => {
    const equator = flightBounds([{ lat: 0, lon: 0, altM: 0 }], 1000);
    const north = flightBounds([{ lat: 70, lon: 0, altM: 0 }], 1000);
    expect(north.east - north.west).toBeGreaterThan(2.9 * (equator.east - equator.west));
    expect(north.widthKm).toBeCloseTo(2, 1);
  });

  it("covers all longitudes when the buffer reaches round a pole", () => {
    const box = flightBounds([{ lat: 89.99, lon: 0, altM: 0 }], 5000);
    expect(box.coversAllLongitudes).toBe(true);
    expect([box.west, box.east]).toEqual([-180, 180]);
  });

  it("rejects an empty flight and a negative buffer", () => {
    expect(() => flightBounds([], 10)).toThrow(RangeError);
    expect(() => flightBounds([{ lat: 0, lon: 0, altM: 0 }], -1)).toThrow(RangeError);
  });
});
