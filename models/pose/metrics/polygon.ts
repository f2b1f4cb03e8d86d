/**
 * Point-in-polygon for PoseTrack ignore regions.
 *
 * poseval drops a point when `shapely.geometry.Polygon(region).contains(point)`: the point must be
 * strictly inside; a point on the boundary (an edge or a vertex) is not contained. We match that
 * with the even-odd crossing rule plus an explicit on-boundary test. Self-intersecting polygons
 * (which shapely calls invalid) are read with the even-odd rule; regions with fewer than 3
 * vertices have no interior and contain nothing.
 */

/** A polygon as parallel coordinate lists in image pixels (PoseTrack's `ignore_regions_x/_y`). */
export interface Polygon {
  readonly x: readonly number[];
  readonly y: readonly number[];
}

function onSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): boolean {
  const cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax);
  if (cross !== 0) return false;
  return px >= Math.min(ax, bx) && px <= Math.max(ax, bx) && py >= Math.min(ay, by) && py <= Math.max(ay, by);
}

/** Whether (px, py) lies strictly inside `poly` (shapely's `Polygon.contains`). */
export function polygonContains(poly: Polygon, px: number, py: number): boolean {
  const n = Math.min(poly.x.length, poly.y.length);
  if (n < 3) return false;
  let inside = false;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = poly.x[i]!;
    const yi = poly.y[i]!;
    const xj = poly.x[j]!;
    const yj = poly.y[j]!;
    if (onSegment(px, py, xj, yj, xi, yi)) return false;
    if (yi > py !== yj > py) {
      const xCross = xj + ((py - yj) * (xi - xj)) / (yi - yj);
      if (px < xCross) inside = !inside;
    }
  }
  return inside;
}

/** Whether any polygon of `polys` strictly contains (px, py). */
export function anyPolygonContains(polys: readonly Polygon[], px: number, py: number): boolean {
  for (const p of polys) if (polygonContains(p, px, py)) return true;
  return false;
}
