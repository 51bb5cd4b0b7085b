#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An axis-aligned rectangle in pixels.
public struct PixelBox: Sendable, Hashable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// The area in pixels (0 for an empty box).
    public var area: Int { max(0, width) * max(0, height) }

    /// The part of this box inside `other`, or nil when they do not overlap.
    public func intersection(_ other: PixelBox) -> PixelBox? {
        let left = max(x, other.x), top = max(y, other.y)
        let right = min(x + width, other.x + other.width), bottom = min(y + height, other.y + other.height)
        guard right > left, bottom > top else { return nil }
        return PixelBox(x: left, y: top, width: right - left, height: bottom - top)
    }

    /// `WxH+X+Y`, as image tools write crops.
    public var description: String { "\(width)x\(height)+\(x)+\(y)" }
}

/// A part of a frame that looks like it holds a code: a cluster of busy blocks, with the
/// dominant direction of its edges.
public struct CodeRegion: Sendable, Hashable {
    /// Where, in pixels of the frame searched, margin for the quiet zone included.
    public let box: PixelBox
    /// The direction of the strongest gradients in degrees, 0…180 (0: edges vertical, as the
    /// bars of an upright barcode). Meaningful when `coherence` is high.
    public let angle: Double
    /// How much the gradients agree in direction, 0…1: near 1 for a barcode's parallel bars,
    /// low for a QR code, whose edges run both ways.
    public let coherence: Double
    /// How much busier than the background the region is; larger is more likely a code.
    public let score: Double
}

/// Finds the regions of a frame that may hold a code, so the costly strategies run on a crop
/// a tenth the size of the frame instead of all of it.
///
/// The frame is cut into blocks; a block is busy when the sum of its gradient magnitudes is well
/// above the frame's median block (the background, whatever its noise). Busy blocks that touch
/// are one region, ranked by how far above the background they are. A code, even dim, grey on
/// grey or noisy, has edges every module in both directions and stands out against its own
/// frame's background; text and clutter may too, hence several regions.
public struct RegionFinder {
    /// Block side in pixels of the frame searched.
    public static let blockSide = 8
    /// How many times the median block's edge energy a block needs to be busy.
    public static let busyFactor: Float = 2.2
    /// Busy blocks a region needs: a 21-module QR code of 1.5-pixel modules, halved, spans 2x2.
    public static let blockCountMin = 3
    /// The weakest region kept, as a fraction of the best one's score.
    public static let scoreFractionMin = 0.2

    private var energy: [Float] = []
    private var tensor: [SIMD4<Float>] = []
    private var sorted: [Float] = []
    private var label: [Int32] = []
    private var stack: [Int] = []

    public init() {}

    /// The up to `countMax` likeliest regions of `frame`, best first. `scale` maps the box
    /// back to a larger original (2 when `frame` is the original halved); each box gets a
    /// margin for the quiet zone and is clipped to the original's `bounds`.
    public mutating func find(in frame: LumaFrame, scale: Int = 1, countMax: Int = 3) -> [CodeRegion] {
        precondition(scale >= 1 && countMax >= 1, "bad region search parameters")
        let side = Self.blockSide
        let columns = frame.width / side, rows = frame.height / side
        guard columns >= 2, rows >= 2 else { return [] }
        let blockCount = columns * rows
        if energy.count != blockCount {
            energy = [Float](repeating: 0, count: blockCount)
            tensor = [SIMD4<Float>](repeating: .zero, count: blockCount)
            label = [Int32](repeating: 0, count: blockCount)
        }
        measure(frame, columns: columns, rows: rows)

        sorted = energy
        sorted.sort()
        let median = sorted[blockCount / 2]
        // The floor keeps a flat, clean frame from calling its faintest texture busy.
        let busy = max(median * Self.busyFactor, Float(side * side) * 4)

        // Connected busy blocks (8-neighbours, and a one-block gap bridged, since a code's
        // quiet-looking runs of light modules can split it).
        for i in 0..<blockCount { label[i] = energy[i] > busy ? -1 : 0 }
        var regions: [CodeRegion] = []
        var next: Int32 = 1
        for start in 0..<blockCount where label[start] == -1 {
            label[start] = next
            stack.removeAll(keepingCapacity: true)
            stack.append(start)
            var left = columns, right = 0, top = rows, bottom = 0, count = 0
            var score: Float = 0
            var sum = SIMD4<Float>.zero
            while let block = stack.popLast() {
                let bx = block % columns, by = block / columns
                left = min(left, bx); right = max(right, bx); top = min(top, by); bottom = max(bottom, by)
                count += 1
                score += energy[block] / busy - 1
                sum += tensor[block]
                for dy in -2...2 {
                    let ny = by + dy
                    guard ny >= 0, ny < rows else { continue }
                    for dx in -2...2 {
                        let nx = bx + dx
                        guard nx >= 0, nx < columns else { continue }
                        let neighbour = ny * columns + nx
                        if label[neighbour] == -1 {
                            label[neighbour] = next
                            stack.append(neighbour)
                        }
                    }
                }
            }
            next += 1
            guard count >= Self.blockCountMin else { continue }
            let (sxx, syy, sxy) = (Double(sum[0]), Double(sum[1]), Double(sum[2]))
            let spread = ((sxx - syy) * (sxx - syy) + 4 * sxy * sxy).squareRoot()
            let coherence = sxx + syy > 0 ? spread / (sxx + syy) : 0
            var angle = 0.5 * atan2(2 * sxy, sxx - syy) * 180 / Double.pi
            if angle < 0 { angle += 180 }
            // Margin: a block and an eighth of the region's size each side, for the quiet zone
            // (Code 128's is 10 modules) and edge blocks that fell just under the threshold.
            let width = (right - left + 1) * side, height = (bottom - top + 1) * side
            let marginX = side + width / 8, marginY = side + height / 8
            let x0 = max(0, left * side - marginX), y0 = max(0, top * side - marginY)
            let x1 = min(frame.width, (right + 1) * side + marginX), y1 = min(frame.height, (bottom + 1) * side + marginY)
            let box = PixelBox(x: x0 * scale, y: y0 * scale, width: (x1 - x0) * scale, height: (y1 - y0) * scale)
            regions.append(CodeRegion(box: box, angle: angle, coherence: coherence, score: Double(score)))
        }
        regions.sort { $0.score > $1.score }
        // Clutter far weaker than the best region is not worth a crop of its own.
        let scoreMin = (regions.first?.score ?? 0) * Self.scoreFractionMin
        return Array(regions.prefix { $0.score >= scoreMin }.prefix(countMax))
    }

    /// Per block: the sum of |gx| + |gy| (central differences), and the structure tensor
    /// (gx², gy², gx·gy) for the direction of the edges.
    private mutating func measure(_ frame: LumaFrame, columns: Int, rows: Int) {
        let side = Self.blockSide, width = frame.width, height = frame.height
        frame.pixels.withUnsafeBufferPointer { pixelBuffer in
            energy.withUnsafeMutableBufferPointer { energyBuffer in
                tensor.withUnsafeMutableBufferPointer { tensorBuffer in
                    // Raw pointers and while loops keep the debug build (unit tests) quick.
                    let px = pixelBuffer.baseAddress!, energy = energyBuffer.baseAddress!, tensor = tensorBuffer.baseAddress!
                    var by = 0
                    while by < rows {
                        var bx = 0
                        while bx < columns {
                            var magnitude: Int32 = 0, xx: Int32 = 0, yy: Int32 = 0, xy: Int32 = 0
                            let y0 = by == 0 ? 1 : by * side, y1 = by == rows - 1 ? min(height - 1, (by + 1) * side) : (by + 1) * side
                            let x0 = bx == 0 ? 1 : bx * side, x1 = bx == columns - 1 ? min(width - 1, (bx + 1) * side) : (bx + 1) * side
                            var y = y0
                            while y < y1 {
                                let row = y * width
                                var x = x0
                                while x < x1 {
                                    let gx = Int32(px[row + x + 1]) - Int32(px[row + x - 1])
                                    let gy = Int32(px[row + x + width]) - Int32(px[row + x - width])
                                    magnitude += (gx < 0 ? -gx : gx) + (gy < 0 ? -gy : gy)
                                    xx += gx * gx
                                    yy += gy * gy
                                    xy += gx * gy
                                    x += 1
                                }
                                y += 1
                            }
                            let block = by * columns + bx
                            energy[block] = Float(magnitude)
                            tensor[block] = SIMD4(Float(xx), Float(yy), Float(xy), 0)
                            bx += 1
                        }
                        by += 1
                    }
                }
            }
        }
    }
}
