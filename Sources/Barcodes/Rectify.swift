#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in a frame's pixel coordinates (x right, y down).
public struct PixelPoint: Sendable, Hashable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }

    /// The straight-line distance to `other`.
    public func distance(to other: PixelPoint) -> Double {
        ((x - other.x) * (x - other.x) + (y - other.y) * (y - other.y)).squareRoot()
    }
}

extension LumaOps {
    /// The four corners of the dark code printed on a lighter card in `frame`, in order round
    /// the outline (clockwise on screen), or nil when there is no such outline: the
    /// quadrilateral of largest area inside the convex hull of the dark pixels that have light
    /// ones on both sides along their row, within a sixth of the frame's smaller side.
    ///
    /// A QR code seen at a steep tilt is a keystone, not a square: its near side wider than its
    /// far side. zbar finds the finder patterns of a mildly distorted code and fits its grid to
    /// them, but beyond about 40 degrees it gives up; warping this outline back to a square
    /// (``warpQuad(_:corners:into:side:marginFraction:)``) gives it a code it reads. The
    /// "light on both sides" rule keeps the background around the card out of the outline
    /// even where it is darker than the card: background next to the card has card on one side
    /// only.
    public static func codeQuad(_ frame: LumaFrame) -> [PixelPoint]? {
        let width = frame.width, height = frame.height
        guard width >= 16, height >= 16 else { return nil }
        let (low, high) = clippedRange(frame, clipFraction: 0.01)
        let span = high - low
        guard span >= 40 else { return nil }
        let darkMax = low + span * 45 / 100, lightMin = low + span * 70 / 100
        let reach = max(8, min(width, height) / 6)
        // For each row, the outermost dark pixels of a run of two or more with light within
        // `reach` on both sides; their convex hull is the code's outline (a convex shape's
        // hull is fixed by its extreme points along each row).
        var points: [(x: Int, y: Int)] = []
        points.reserveCapacity(2 * height)
        var lightBefore = [Int](repeating: 0, count: width)
        frame.pixels.withUnsafeBufferPointer { buffer in
            let px = buffer.baseAddress!
            lightBefore.withUnsafeMutableBufferPointer { before in
                var y = 0
                while y < height {
                    let row = px + y * width
                    // Distance back to the last light pixel, capped past `reach`.
                    var distance = reach + 1, x = 0
                    while x < width {
                        distance = Int(row[x]) >= lightMin ? 0 : min(distance + 1, reach + 1)
                        before[x] = distance
                        x += 1
                    }
                    var first = -1, last = -1
                    distance = reach + 1
                    x = width - 1
                    while x >= 1 {
                        distance = Int(row[x]) >= lightMin ? 0 : min(distance + 1, reach + 1)
                        if distance <= reach, before[x] <= reach,
                           Int(row[x]) <= darkMax, Int(row[x - 1]) <= darkMax || (x + 1 < width && Int(row[x + 1]) <= darkMax) {
                            if last < 0 { last = x }
                            first = x
                        }
                        x -= 1
                    }
                    if first >= 0 {
                        points.append((first, y))
                        if last != first { points.append((last, y)) }
                    }
                    y += 1
                }
            }
        }
        guard points.count >= 8 else { return nil }
        let hull = convexHull(points)
        guard hull.count >= 4 else { return nil }
        let quad = largestQuad(hull)
        let area = abs(signedArea(quad)) / 2
        // An outline of a code is a sizeable part of its region, and far from a sliver.
        guard area >= Double(width * height) / 50 else { return nil }
        // A code has a quiet zone all round: just outside its outline, three samples in four or
        // more within the frame are not dark (light, or the background beyond a tight card), and at
        // least half of them are within it. Noise or clutter filling the region has no such ring.
        let centreX = quad.reduce(0) { $0 + $1.x } / 4, centreY = quad.reduce(0) { $0 + $1.y } / 4
        // Outward by a sixteenth of the outline's side: past a blurred edge, within the quiet
        // zone of four modules (a tenth of a 33-module code's side).
        let outward = max(3, area.squareRoot() / 16)
        var light = 0, samples = 0
        for index in 0..<4 {
            let a = quad[index], b = quad[(index + 1) % 4]
            guard a.distance(to: b) >= 8 else { return nil }
            for step in 1..<16 {
                let t = Double(step) / 16
                let x = a.x + (b.x - a.x) * t, y = a.y + (b.y - a.y) * t
                let dx = x - centreX, dy = y - centreY, distance = max((dx * dx + dy * dy).squareRoot(), 1)
                let sx = Int((x + dx / distance * outward).rounded()), sy = Int((y + dy / distance * outward).rounded())
                guard sx >= 0, sy >= 0, sx < width, sy < height else { continue }
                samples += 1
                if Int(frame[sx, sy]) > darkMax { light += 1 }
            }
        }
        guard samples >= 30, light * 4 >= samples * 3 else { return nil }
        return quad
    }

    /// The convex hull of `points`, clockwise on screen (counter-clockwise with y up), without
    /// collinear points (Andrew's monotone chain).
    static func convexHull(_ points: [(x: Int, y: Int)]) -> [PixelPoint] {
        let sorted = points.sorted { $0.x != $1.x ? $0.x < $1.x : $0.y < $1.y }
        func cross(_ o: (x: Int, y: Int), _ a: (x: Int, y: Int), _ b: (x: Int, y: Int)) -> Int {
            (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
        }
        var hull: [(x: Int, y: Int)] = []
        for point in sorted {
            while hull.count >= 2, cross(hull[hull.count - 2], hull[hull.count - 1], point) <= 0 { hull.removeLast() }
            hull.append(point)
        }
        let lowerCount = hull.count + 1
        for point in sorted.reversed().dropFirst() {
            while hull.count >= lowerCount, cross(hull[hull.count - 2], hull[hull.count - 1], point) <= 0 { hull.removeLast() }
            hull.append(point)
        }
        hull.removeLast()
        return hull.map { PixelPoint(x: Double($0.x), y: Double($0.y)) }
    }

    /// Twice the signed area of a polygon.
    static func signedArea(_ polygon: [PixelPoint]) -> Double {
        var sum = 0.0
        for index in polygon.indices {
            let a = polygon[index], b = polygon[(index + 1) % polygon.count]
            sum += a.x * b.y - b.x * a.y
        }
        return sum
    }

    /// The quadrilateral of largest area with its corners among the vertices of the convex
    /// polygon `hull`, in the hull's order. For each first corner and opposite corner, the best
    /// corner on each side moves only forward as the opposite corner does, so this is
    /// quadratic in the vertices, not quartic.
    static func largestQuad(_ hull: [PixelPoint]) -> [PixelPoint] {
        let n = hull.count
        precondition(n >= 4, "a quadrilateral needs four vertices")
        func triangle(_ a: Int, _ b: Int, _ c: Int) -> Double {
            let p = hull[a % n], q = hull[b % n], r = hull[c % n]
            return abs((q.x - p.x) * (r.y - p.y) - (q.y - p.y) * (r.x - p.x))
        }
        var best = (area: -1.0, corners: (0, 1, 2, 3))
        for i in 0..<n {
            var j = i + 1, l = i + 3
            for k in (i + 2)..<(i + n - 1) {
                if j >= k { j = k - 1 }
                while j + 1 < k, triangle(i, j + 1, k) >= triangle(i, j, k) { j += 1 }
                if l <= k { l = k + 1 }
                while l + 1 < i + n, triangle(k, l + 1, i) >= triangle(k, l, i) { l += 1 }
                let area = triangle(i, j, k) + triangle(k, l, i)
                if area > best.area { best = (area, (i, j, k, l)) }
            }
        }
        let (a, b, c, d) = best.corners
        return [hull[a % n], hull[b % n], hull[c % n], hull[d % n]]
    }

    /// Warps the quadrilateral `corners` of `source` (in order round it) onto a `side` x `side`
    /// square, with `marginFraction` of the side around it taken from beyond the corners (the
    /// quiet zone), bilinearly through the homography that maps the square onto the corners.
    /// The corners' order is kept as seen, so the code is not mirrored.
    public static func warpQuad(
        _ source: LumaFrame, corners: [PixelPoint], into destination: inout LumaFrame, side: Int, marginFraction: Double = 0.1
    ) {
        precondition(corners.count == 4 && side > 0, "a warp needs four corners and a size")
        // Square (u, v) in 0…1 onto the corners, (0,0)→0, (1,0)→1, (1,1)→2, (0,1)→3.
        let x0 = corners[0].x, y0 = corners[0].y, x1 = corners[1].x, y1 = corners[1].y
        let x2 = corners[2].x, y2 = corners[2].y, x3 = corners[3].x, y3 = corners[3].y
        let dx1 = x1 - x2, dx2 = x3 - x2, dx3 = x0 - x1 + x2 - x3
        let dy1 = y1 - y2, dy2 = y3 - y2, dy3 = y0 - y1 + y2 - y3
        var g = 0.0, h = 0.0
        let determinant = dx1 * dy2 - dx2 * dy1
        if determinant != 0 {
            g = (dx3 * dy2 - dx2 * dy3) / determinant
            h = (dx1 * dy3 - dx3 * dy1) / determinant
        }
        let a = x1 - x0 + g * x1, b = x3 - x0 + h * x3, c = x0
        let d = y1 - y0 + g * y1, e = y3 - y0 + h * y3, f = y0
        let total = side + 2 * Int((Double(side) * marginFraction).rounded())
        let offset = Double(total - side) / 2
        prepare(&destination, width: total, height: total)
        let sourceWidth = source.width, sourceHeight = source.height
        withPixels(source, &destination) { src, dst in
            let fill = UInt8(255)
            var row = 0
            while row < total {
                let v = (Double(row) + 0.5 - offset) / Double(side)
                var column = 0
                while column < total {
                    let u = (Double(column) + 0.5 - offset) / Double(side)
                    let w = g * u + h * v + 1
                    var value = fill
                    if w > 1e-6 {
                        let sx = (a * u + b * v + c) / w - 0.5, sy = (d * u + e * v + f) / w - 0.5
                        if sx >= 0, sy >= 0, sx < Double(sourceWidth - 1), sy < Double(sourceHeight - 1) {
                            let ix = Int(sx), iy = Int(sy)
                            let fx = Int((sx - Double(ix)) * 256), fy = Int((sy - Double(iy)) * 256)
                            let i = iy * sourceWidth + ix
                            let top = Int(src[i]) * (256 - fx) + Int(src[i + 1]) * fx
                            let bottom = Int(src[i + sourceWidth]) * (256 - fx) + Int(src[i + sourceWidth + 1]) * fx
                            value = UInt8(truncatingIfNeeded: (top * (256 - fy) + bottom * fy + 32768) >> 16)
                        }
                    }
                    dst[row * total + column] = value
                    column += 1
                }
                row += 1
            }
        }
    }
}
