#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Image operations on grey frames that turn a hard frame into one zbar reads: inversion,
/// contrast stretch, adaptive threshold, blur, sharpening, scaling and rotation.
///
/// Each writes into a destination frame the caller keeps and passes again, which is reallocated
/// only when its size must change, so a scan loop allocates nothing per frame once warm. The
/// loops run over unsafe buffer pointers: with bounds checks a 640x480 pass costs several times
/// more, and these run inside a per-frame budget of a few milliseconds.
public enum LumaOps {
    /// Makes `frame` exactly `width` x `height`, keeping its storage when the size already fits.
    static func prepare(_ frame: inout LumaFrame, width: Int, height: Int) {
        if frame.width != width || frame.height != height {
            frame = LumaFrame(width: width, height: height, fill: 0)
        }
    }

    /// Runs `body` with raw pointers to the pixels of `source` and `destination`. Raw pointers
    /// and `while` loops, rather than iterators and buffer subscripts, also keep the debug build
    /// (the unit tests) within a few times the release build's speed.
    @inline(__always)
    static func withPixels(
        _ source: LumaFrame, _ destination: inout LumaFrame,
        _ body: (UnsafePointer<UInt8>, UnsafeMutablePointer<UInt8>) -> Void
    ) {
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in body(src.baseAddress!, dst.baseAddress!) }
        }
    }

    /// Light-on-dark becomes dark-on-light: dark-mode phone screens show codes this way, and zbar
    /// finds QR finder patterns and Code 128 start characters only as dark-on-light.
    public static func invert(_ source: LumaFrame, into destination: inout LumaFrame) {
        prepare(&destination, width: source.width, height: source.height)
        let count = source.pixels.count
        withPixels(source, &destination) { src, dst in
            var i = 0
            while i < count {
                dst[i] = 255 &- src[i]
                i += 1
            }
        }
    }

    /// Maps the `clipFraction` darkest pixels to 0 and the `clipFraction` brightest to 255,
    /// linearly in between: dim and washed-out frames get back a full range, so zbar's edge
    /// detector, whose thresholds are absolute, sees the code's edges.
    public static func stretchContrast(_ source: LumaFrame, into destination: inout LumaFrame, clipFraction: Double = 0.005) {
        let (low, high) = clippedRange(source, clipFraction: clipFraction)
        // A flat frame has nothing to stretch; a span below 4 would only amplify quantisation.
        let span = max(high - low, 4)
        let table = (0..<256).map { UInt8(clamping: ($0 - low) * 255 / span) }
        map(source, into: &destination, table: table)
    }

    /// The darkest and brightest grey of `source` once the `clipFraction` darkest and brightest
    /// pixels are set aside: its usable contrast is `high - low`.
    public static func clippedRange(_ source: LumaFrame, clipFraction: Double = 0.005) -> (low: Int, high: Int) {
        precondition(clipFraction >= 0 && clipFraction < 0.5, "clip fraction must be in 0..<0.5")
        var histogram = [Int](repeating: 0, count: 256)
        let count = source.pixels.count
        source.pixels.withUnsafeBufferPointer { src in
            histogram.withUnsafeMutableBufferPointer { bins in
                var i = 0
                while i < count {
                    bins[Int(src[i])] += 1
                    i += 1
                }
            }
        }
        let clipCount = Int(Double(count) * clipFraction)
        var low = 0, seen = 0
        while low < 255, seen + histogram[low] <= clipCount { seen += histogram[low]; low += 1 }
        var high = 255
        seen = 0
        while high > 0, seen + histogram[high] <= clipCount { seen += histogram[high]; high -= 1 }
        return (low, max(low, high))
    }

    /// Copies `box` of `frame` into `destination`.
    public static func crop(_ box: PixelBox, of frame: LumaFrame, into destination: inout LumaFrame) {
        prepare(&destination, width: box.width, height: box.height)
        let sourceWidth = frame.width
        withPixels(frame, &destination) { src, dst in
            var row = 0
            while row < box.height {
                (dst + row * box.width).update(from: src + (box.y + row) * sourceWidth + box.x, count: box.width)
                row += 1
            }
        }
    }

    /// Applies a 256-entry lookup table to every pixel.
    public static func map(_ source: LumaFrame, into destination: inout LumaFrame, table: [UInt8]) {
        precondition(table.count == 256, "a lookup table has 256 entries")
        prepare(&destination, width: source.width, height: source.height)
        let count = source.pixels.count
        withPixels(source, &destination) { src, dst in
            table.withUnsafeBufferPointer { lut in
                let lut = lut.baseAddress!
                var i = 0
                while i < count {
                    dst[i] = lut[Int(src[i])]
                    i += 1
                }
            }
        }
    }

    /// Binarises against the mean of a `(2 radius + 1)²` window (Bradley and Roth): a pixel is
    /// dark when it is more than `percent` below its neighbourhood's mean.
    ///
    /// This evens out glare, vignetting and uneven light, which defeat one global threshold,
    /// and restores hard edges to a blurred code. The window sums come from an integral image
    /// held in `integral` (reused between calls), so the cost does not depend on the radius.
    public static func adaptiveThreshold(
        _ source: LumaFrame, into destination: inout LumaFrame, radius: Int, percent: Int, integral: inout [UInt32]
    ) {
        precondition(radius >= 1 && (0..<100).contains(percent), "bad adaptive threshold parameters")
        let width = source.width, height = source.height
        prepare(&destination, width: width, height: height)
        let stride = width + 1
        if integral.count < stride * (height + 1) {
            integral = [UInt32](repeating: 0, count: stride * (height + 1))
        }
        let keep = UInt64(100 - percent)
        withPixels(source, &destination) { src, dst in
            integral.withUnsafeMutableBufferPointer { buffer in
                let sums = buffer.baseAddress!
                // Row 0 and column 0 stay zero, so window sums need no edge cases.
                var x = 0
                while x <= width {
                    sums[x] = 0
                    x += 1
                }
                var y = 0
                while y < height {
                    var rowSum: UInt32 = 0
                    let above = y * stride, here = (y + 1) * stride, row = y * width
                    sums[here] = 0
                    x = 0
                    while x < width {
                        rowSum &+= UInt32(src[row + x])
                        sums[here + x + 1] = sums[above + x + 1] &+ rowSum
                        x += 1
                    }
                    y += 1
                }
                y = 0
                while y < height {
                    let top = y > radius ? y - radius : 0, bottom = y + radius < height ? y + radius : height - 1
                    let rowTop = top * stride, rowBottom = (bottom + 1) * stride
                    let rows = UInt64(bottom - top + 1)
                    let row = y * width
                    x = 0
                    while x < width {
                        let left = x > radius ? x - radius : 0, right = x + radius < width ? x + radius : width - 1
                        let sum = UInt64(sums[rowBottom + right + 1] &- sums[rowTop + right + 1]
                                         &- sums[rowBottom + left] &+ sums[rowTop + left])
                        let count = rows * UInt64(right - left + 1)
                        dst[row + x] = UInt64(src[row + x]) * count * 100 < sum * keep ? 0 : 255
                        x += 1
                    }
                    y += 1
                }
            }
        }
    }

    /// A 3x3 box average: halves Gaussian sensor noise and flattens the fine pixel grid of a
    /// photographed screen (moiré), at the cost of some sharpness. Borders are copied.
    public static func boxBlur3(_ source: LumaFrame, into destination: inout LumaFrame) {
        let width = source.width, height = source.height
        prepare(&destination, width: width, height: height)
        withPixels(source, &destination) { src, dst in
            copyBorder(src, dst, width: width, height: height)
            guard width >= 3, height >= 3 else { return }
            var y = 1
            while y < height - 1 {
                let up = (y - 1) * width, row = y * width, down = (y + 1) * width
                // Column sums of three rows, slid along the row: 3 adds a pixel, not 9.
                var a = Int(src[up]) + Int(src[row]) + Int(src[down])
                var b = Int(src[up + 1]) + Int(src[row + 1]) + Int(src[down + 1])
                var x = 1
                while x < width - 1 {
                    let c = Int(src[up + x + 1]) + Int(src[row + x + 1]) + Int(src[down + x + 1])
                    // 7282 / 65536 is 1/9 to within 0.003%.
                    dst[row + x] = UInt8(truncatingIfNeeded: ((a + b + c) &* 7282) >> 16)
                    a = b
                    b = c
                    x += 1
                }
                y += 1
            }
        }
    }

    /// A 3x3 median: removes salt-and-pepper specks and single-pixel noise while keeping edges
    /// sharper than a box average does. Borders are copied.
    public static func median3(_ source: LumaFrame, into destination: inout LumaFrame) {
        let width = source.width, height = source.height
        prepare(&destination, width: width, height: height)
        withPixels(source, &destination) { src, dst in
            copyBorder(src, dst, width: width, height: height)
            guard width >= 3, height >= 3 else { return }
            var y = 1
            while y < height - 1 {
                let up = (y - 1) * width, row = y * width, down = (y + 1) * width
                var x = 1
                while x < width - 1 {
                    // Sort each column of three; the median of nine is then the median of the
                    // largest minimum, the median of the medians and the smallest maximum.
                    var a0 = src[up + x - 1], a1 = src[row + x - 1], a2 = src[down + x - 1]
                    var b0 = src[up + x], b1 = src[row + x], b2 = src[down + x]
                    var c0 = src[up + x + 1], c1 = src[row + x + 1], c2 = src[down + x + 1]
                    if a0 > a1 { swap(&a0, &a1) }; if a1 > a2 { swap(&a1, &a2) }; if a0 > a1 { swap(&a0, &a1) }
                    if b0 > b1 { swap(&b0, &b1) }; if b1 > b2 { swap(&b1, &b2) }; if b0 > b1 { swap(&b0, &b1) }
                    if c0 > c1 { swap(&c0, &c1) }; if c1 > c2 { swap(&c1, &c2) }; if c0 > c1 { swap(&c0, &c1) }
                    var lowMax = a0 > b0 ? a0 : b0
                    if c0 > lowMax { lowMax = c0 }
                    var highMin = a2 < b2 ? a2 : b2
                    if c2 < highMin { highMin = c2 }
                    var m0 = a1, m1 = b1, m2 = c1
                    if m0 > m1 { swap(&m0, &m1) }; if m1 > m2 { swap(&m1, &m2) }; if m0 > m1 { swap(&m0, &m1) }
                    var t0 = lowMax, t1 = m1, t2 = highMin
                    if t0 > t1 { swap(&t0, &t1) }; if t1 > t2 { swap(&t1, &t2) }; if t0 > t1 { swap(&t0, &t1) }
                    dst[row + x] = t1
                    x += 1
                }
                y += 1
            }
        }
    }

    private static func copyBorder(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<UInt8>, width: Int, height: Int) {
        let last = (height - 1) * width
        var x = 0
        while x < width {
            dst[x] = src[x]
            dst[last + x] = src[last + x]
            x += 1
        }
        var y = 0
        while y < height {
            dst[y * width] = src[y * width]
            dst[y * width + width - 1] = src[y * width + width - 1]
            y += 1
        }
    }

    /// A box average over `(2 radius + 1)²` pixels (edges repeated), as two one-dimensional
    /// running sums through `scratch`: the cost does not depend on the radius. Two passes
    /// approximate a Gaussian of sigma `radius` × 1.15.
    public static func boxBlur(_ source: LumaFrame, into destination: inout LumaFrame, radius: Int, scratch: inout [UInt8]) {
        precondition(radius >= 1, "blur radius must be at least 1")
        let width = source.width, height = source.height
        prepare(&destination, width: width, height: height)
        if scratch.count < width * height { scratch = [UInt8](repeating: 0, count: width * height) }
        let count = 2 * radius + 1
        // Reciprocal in 16.16 fixed point, so each pixel costs a multiply, not a divide.
        let reciprocal = (65536 + count / 2) / count
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            let middle = scratchBuffer.baseAddress!
            withPixels(source, &destination) { src, dst in
                blurLines(src, middle, lines: height, length: width, step: 1, lineStep: width, radius: radius, reciprocal: reciprocal)
                blurLines(UnsafePointer(middle), dst, lines: width, length: height, step: width, lineStep: 1, radius: radius, reciprocal: reciprocal)
            }
        }
    }

    private static func blurLines(
        _ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<UInt8>,
        lines: Int, length: Int, step: Int, lineStep: Int, radius: Int, reciprocal: Int
    ) {
        var line = 0
        while line < lines {
            let base = line * lineStep
            let first = Int(src[base]), last = Int(src[base + (length - 1) * step])
            var sum = 0
            var k = -radius
            while k <= radius {
                sum += k < 0 ? first : k >= length ? last : Int(src[base + k * step])
                k += 1
            }
            var i = 0
            while i < length {
                dst[base + i * step] = UInt8(truncatingIfNeeded: (sum * reciprocal + 32768) >> 16)
                let outgoing = i - radius, incoming = i + radius + 1
                sum += (incoming >= length ? last : Int(src[base + incoming * step]))
                    - (outgoing < 0 ? first : Int(src[base + outgoing * step]))
                i += 1
            }
            line += 1
        }
    }

    /// Unsharp masking against a wide Gaussian-like blur (two box passes of `radius`):
    /// `p + amount (p - blur)`. Restores the contrast of single modules that a defocus of a
    /// pixel or two has washed into their neighbours, which a 3x3 kernel cannot reach.
    public static func unsharp(
        _ source: LumaFrame, into destination: inout LumaFrame, radius: Int, amount: Int,
        blurred: inout LumaFrame, scratch: inout [UInt8]
    ) {
        precondition(amount >= 1, "sharpening amount must be at least 1")
        boxBlur(source, into: &blurred, radius: radius, scratch: &scratch)
        // The second pass lands in the destination, which is then sharpened in place: each
        // output pixel reads only its own blurred value.
        boxBlur(blurred, into: &destination, radius: radius, scratch: &scratch)
        let count = source.pixels.count
        withPixels(source, &destination) { src, dst in
            var i = 0
            while i < count {
                let pixel = Int(src[i])
                let value = pixel + amount * (pixel - Int(dst[i]))
                dst[i] = value < 0 ? 0 : value > 255 ? 255 : UInt8(truncatingIfNeeded: value)
                i += 1
            }
        }
    }

    /// Halves both sides, each output pixel the mean of a 2x2 block: a code with large modules
    /// scans in a quarter of the time, and averaging also tames noise, moiré and JPEG blocks.
    public static func downscale2(_ source: LumaFrame, into destination: inout LumaFrame) {
        let width = source.width / 2, height = source.height / 2
        precondition(width >= 1 && height >= 1, "frame too small to halve")
        prepare(&destination, width: width, height: height)
        let sourceWidth = source.width
        withPixels(source, &destination) { src, dst in
            var y = 0
            while y < height {
                let top = 2 * y * sourceWidth, bottom = top + sourceWidth, row = y * width
                var x = 0
                while x < width {
                    let sum = Int(src[top + 2 * x]) + Int(src[top + 2 * x + 1])
                        + Int(src[bottom + 2 * x]) + Int(src[bottom + 2 * x + 1])
                    dst[row + x] = UInt8(truncatingIfNeeded: (sum + 2) >> 2)
                    x += 1
                }
                y += 1
            }
        }
    }

    /// Crops `region` (clamped to the frame; nil for all of it) and scales it by `factor`, 1…4,
    /// with bilinear interpolation: modules of one or two pixels become wide enough for zbar's
    /// edge detector, and cropping first keeps the cost to the region of interest.
    public static func upscale(_ source: LumaFrame, into destination: inout LumaFrame, region: PixelBox? = nil, factor: Int = 2) {
        precondition((1...4).contains(factor), "upscale factor must be 1…4")
        let box = (region ?? PixelBox(x: 0, y: 0, width: source.width, height: source.height))
            .intersection(PixelBox(x: 0, y: 0, width: source.width, height: source.height))
        guard let box else { preconditionFailure("upscale region outside the frame") }
        let width = box.width * factor, height = box.height * factor
        prepare(&destination, width: width, height: height)
        let sourceWidth = source.width
        // Fixed-point (8 fraction bits) source positions of each output column, computed once.
        var columns = [Int](repeating: 0, count: width), weights = [Int](repeating: 0, count: width)
        for x in 0..<width {
            let position = max(0, ((2 * x + 1) * 256 / factor - 256) / 2)
            let index = min(position >> 8, box.width - 1)
            columns[x] = box.x + index
            weights[x] = index + 1 < box.width ? position & 255 : 0
        }
        withPixels(source, &destination) { src, dst in
            columns.withUnsafeBufferPointer { columnBuffer in
                weights.withUnsafeBufferPointer { weightBuffer in
                    let columns = columnBuffer.baseAddress!, weights = weightBuffer.baseAddress!
                    var y = 0
                    while y < height {
                        let position = max(0, ((2 * y + 1) * 256 / factor - 256) / 2)
                        let index = min(position >> 8, box.height - 1)
                        let weightY = index + 1 < box.height ? position & 255 : 0
                        let row0 = (box.y + index) * sourceWidth
                        let row1 = weightY > 0 ? row0 + sourceWidth : row0
                        let out = y * width
                        var x = 0
                        while x < width {
                            let column = columns[x], weightX = weights[x]
                            let next = weightX > 0 ? column + 1 : column
                            let upper = Int(src[row0 + column]) * (256 - weightX) + Int(src[row0 + next]) * weightX
                            let lower = Int(src[row1 + column]) * (256 - weightX) + Int(src[row1 + next]) * weightX
                            dst[out + x] = UInt8(truncatingIfNeeded: (upper * (256 - weightY) + lower * weightY + 32768) >> 16)
                            x += 1
                        }
                        y += 1
                    }
                }
            }
        }
    }

    /// Rotates the frame by `degrees` about its centre onto a canvas large enough to hold all of
    /// it, with bilinear interpolation (nearest-neighbour steps turn a barcode's 2-pixel bars into
    /// jagged ones zbar misreads); the corners outside are filled with the frame's mean grey.
    ///
    /// zbar reads Code 128 only along rows and columns, so a barcode turned by 20–70 degrees has
    /// no scan line crossing all of its bars; turning the frame brings one back.
    public static func rotate(_ source: LumaFrame, into destination: inout LumaFrame, degrees: Double) {
        let radians = degrees * Double.pi / 180
        let c = cos(radians), s = sin(radians)
        let sourceWidth = source.width, sourceHeight = source.height
        // cos(90°) is 6e-17, not 0: shave that error off before rounding up, or a quarter turn
        // of a 64x48 frame would come out 49 wide.
        let width = Int((Double(sourceWidth) * abs(c) + Double(sourceHeight) * abs(s) - 1e-9).rounded(.up))
        let height = Int((Double(sourceWidth) * abs(s) + Double(sourceHeight) * abs(c) - 1e-9).rounded(.up))
        sampleRotated(source, into: &destination, degrees: degrees,
                      centreX: Double(sourceWidth) * 0.5 - 0.5, centreY: Double(sourceHeight) * 0.5 - 0.5, width: width, height: height)
    }

    /// Calls `body` with the position, central-difference gradient and squared gradient
    /// magnitude of every inner pixel of `frame` whose squared magnitude exceeds 400 (a step of
    /// 20 greys across two pixels): the edges the direction measures below count.
    @inline(__always)
    private static func forEachStrongEdge(_ frame: LumaFrame, _ body: (_ x: Int, _ y: Int, _ gx: Float, _ gy: Float, _ magnitude: Float) -> Void) {
        let width = frame.width, height = frame.height
        guard width >= 3, height >= 3 else { return }
        frame.pixels.withUnsafeBufferPointer { buffer in
            let px = buffer.baseAddress!
            var y = 1
            while y < height - 1 {
                let row = y * width
                var x = 1
                while x < width - 1 {
                    let gx = Float(Int(px[row + x + 1]) - Int(px[row + x - 1]))
                    let gy = Float(Int(px[row + x + width]) - Int(px[row + x - width]))
                    let magnitude = gx * gx + gy * gy
                    if magnitude > 400 { body(x, y, gx, gy, magnitude) }
                    x += 1
                }
                y += 1
            }
        }
    }

    /// The direction of the most common edges in `frame`, in degrees 0…180 (0: edges running
    /// vertically, gradients horizontal), and the share of the edge strength within 6 degrees of
    /// it, 0…1: high for a barcode's parallel bars, low for a QR code's edges in both directions.
    ///
    /// A histogram of gradient directions weighted by magnitude, rather than the mean of the
    /// structure tensor: a phone's bezel adds two long strong edges across a barcode's bars,
    /// which pull a mean away from the bars but only add a second, smaller peak here.
    public static func dominantEdgeAngle(_ frame: LumaFrame) -> (angle: Double, share: Double) {
        let binCount = 60 // 3 degrees each
        var bins = [Float](repeating: 0, count: binCount)
        guard frame.width >= 3, frame.height >= 3 else { return (0, 0) }
        var total: Float = 0
        bins.withUnsafeMutableBufferPointer { binBuffer in
            let bins = binBuffer.baseAddress!
            let scale = Float(binCount) / Float.pi
            // Only clear edges vote: noise alone spreads evenly and blurs the peak.
            forEachStrongEdge(frame) { _, _, gx, gy, magnitude in
                var angle = atan2f(gy, gx)
                if angle < 0 { angle += Float.pi }
                var bin = Int(angle * scale)
                if bin >= binCount { bin = binCount - 1 }
                let weight = magnitude.squareRoot()
                bins[bin] += weight
                total += weight
            }
        }
        guard total > 0 else { return (0, 0) }
        var peak = 0
        for bin in 1..<binCount where bins[bin] > bins[peak] { peak = bin }
        let before = bins[(peak + binCount - 1) % binCount], after = bins[(peak + 1) % binCount]
        // Parabolic refinement of the peak between its neighbours.
        let denominator = before - 2 * bins[peak] + after
        let offset = denominator == 0 ? 0 : 0.5 * (before - after) / denominator
        let angle = (Double(peak) + 0.5 + Double(offset)) * 180 / Double(binCount)
        let near = before + bins[peak] + after + bins[(peak + 2) % binCount] + bins[(peak + binCount - 2) % binCount]
        return ((angle + 180).truncatingRemainder(dividingBy: 180), Double(near / total))
    }

    /// Where a barcode lies in a frame, from its bar edges: ``barcodeAxis(_:)``.
    public struct BarcodeAxis: Sendable, Equatable {
        /// The long axis's direction in degrees 0…180, like ``dominantEdgeAngle(_:)`` (0: it
        /// runs horizontally).
        public let angle: Double
        /// The centre of the bar edges, in pixels.
        public let centreX: Double, centreY: Double
        /// The extent of the bar edges along the axis and across it, in pixels (for edges spread
        /// evenly, the square root of 12 standard deviations).
        public let length: Double, thickness: Double
    }

    /// A barcode's long axis in `frame`, or nil when too few edges agree: the principal axis of
    /// where the bar edges are (their positions' second moments, weighted by edge strength),
    /// counting only edges within 30 degrees of the dominant direction, so a bezel's long edges
    /// and clutter do not pull it.
    ///
    /// Seen in perspective, a barcode's bars lean away from the perpendicular of its axis by up
    /// to 20 degrees and converge; turning by the bars' direction then leaves no row crossing
    /// the whole code, but turning by the axis does.
    public static func barcodeAxis(_ frame: LumaFrame) -> BarcodeAxis? {
        guard frame.width >= 8, frame.height >= 8 else { return nil }
        let dominant = dominantEdgeAngle(frame).angle * Double.pi / 180
        let cosD = Float(cos(dominant)), sinD = Float(sin(dominant))
        var sw: Float = 0, sx: Float = 0, sy: Float = 0, sxx: Float = 0, syy: Float = 0, sxy: Float = 0
        forEachStrongEdge(frame) { x, y, gx, gy, magnitude in
            // Within 30 degrees of the dominant direction: |g·d|² ≥ cos²(30°) |g|².
            let along = gx * cosD + gy * sinD
            guard along * along >= 0.75 * magnitude else { return }
            let w = magnitude.squareRoot(), fx = Float(x), fy = Float(y)
            sw += w
            sx += w * fx
            sy += w * fy
            sxx += w * fx * fx
            syy += w * fy * fy
            sxy += w * fx * fy
        }
        guard sw > 0 else { return nil }
        let mx = Double(sx / sw), my = Double(sy / sw)
        let cxx = Double(sxx / sw) - mx * mx, cyy = Double(syy / sw) - my * my, cxy = Double(sxy / sw) - mx * my
        // An axis needs an elongated spread: the larger eigenvalue well above the smaller.
        let spread = ((cxx - cyy) * (cxx - cyy) + 4 * cxy * cxy).squareRoot()
        let major = (cxx + cyy + spread) / 2, minor = max((cxx + cyy - spread) / 2, 0)
        guard major > 1.5 * max(minor, 1e-9) else { return nil }
        let angle = 0.5 * atan2(2 * cxy, cxx - cyy) * 180 / Double.pi
        let twelve = 12.0.squareRoot()
        return BarcodeAxis(angle: (angle + 180).truncatingRemainder(dividingBy: 180), centreX: mx, centreY: my,
                           length: twelve * major.squareRoot(), thickness: twelve * minor.squareRoot())
    }

    /// Samples a `width` x `height` rectangle of `source` centred on (`centreX`, `centreY`) and
    /// turned by `degrees` (its rows run along that direction), bilinearly; what falls outside
    /// the source is its mean grey. ``rotate(_:into:degrees:)`` turns a whole frame; this takes
    /// only the band a barcode lies in, a twentieth of the pixels for a long code in a large region.
    public static func sampleRotated(
        _ source: LumaFrame, into destination: inout LumaFrame, degrees: Double,
        centreX: Double, centreY: Double, width: Int, height: Int
    ) {
        precondition(width > 0 && height > 0, "an empty sample")
        let radians = degrees * Double.pi / 180
        let c = cos(radians), s = sin(radians)
        let sourceWidth = source.width, sourceHeight = source.height
        prepare(&destination, width: width, height: height)
        // Fixed point, 16 fraction bits: inverse-map each output pixel centre into the source.
        let one = 65536.0
        let cosF = Int(c * one), sinF = Int(s * one)
        let halfWidth = Double(width) * 0.5 - 0.5, halfHeight = Double(height) * 0.5 - 0.5
        withPixels(source, &destination) { src, dst in
            var total = 0, samples = 0, i = 0
            while i < sourceWidth * sourceHeight {
                total += Int(src[i])
                samples += 1
                i += 61
            }
            let fill = UInt8(total / max(1, samples))
            var y = 0
            while y < height {
                let dy = Double(y) - halfHeight
                var sx = Int((centreX - halfWidth * c - dy * s) * one)
                var sy = Int((centreY - halfWidth * s + dy * c) * one)
                let out = y * width
                var x = 0
                while x < width {
                    let ix = sx >> 16, iy = sy >> 16
                    if sx >= 0, sy >= 0, ix + 1 < sourceWidth, iy + 1 < sourceHeight {
                        let fx = (sx >> 8) & 255, fy = (sy >> 8) & 255
                        let i = iy * sourceWidth + ix
                        let top = Int(src[i]) * (256 - fx) + Int(src[i + 1]) * fx
                        let bottom = Int(src[i + sourceWidth]) * (256 - fx) + Int(src[i + sourceWidth + 1]) * fx
                        dst[out + x] = UInt8(truncatingIfNeeded: (top * (256 - fy) + bottom * fy + 32768) >> 16)
                    } else {
                        dst[out + x] = fill
                    }
                    sx += cosF
                    sy += sinF
                    x += 1
                }
                y += 1
            }
        }
    }

    /// Collapses horizontal bands of an image whose bars run vertically into one averaged row
    /// each: averaging the rows of a barcode along its bars cancels noise, moiré and JPEG blocks
    /// by the square root of the band's height, and leaves its width profile exact. Each row is
    /// then stretched to the full range, and a sharpened copy of every band follows the plain
    /// ones (against defocus), each drawn `rowsPerBand` rows tall. With one row a band, zbar's
    /// count of scan lines agreeing on a barcode counts bands that agree.
    ///
    /// The bands overlap by half, so a barcode shorter than a band still fills one of them.
    public static func bandProfiles(_ source: LumaFrame, into destination: inout LumaFrame, bandCount: Int, rowsPerBand: Int = 3) {
        precondition(bandCount >= 1 && rowsPerBand >= 1, "bad band profile parameters")
        let width = source.width
        let bandHeight = max(1, 2 * source.height / (bandCount + 1))
        prepare(&destination, width: width, height: 2 * bandCount * rowsPerBand)
        var sums = [Int](repeating: 0, count: width)
        var profile = [Int](repeating: 0, count: width)
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                for band in 0..<bandCount {
                    let top = min(source.height - bandHeight, band * bandHeight / 2)
                    for x in 0..<width { sums[x] = 0 }
                    for y in top..<(top + bandHeight) {
                        let row = y * width
                        for x in 0..<width { sums[x] += Int(src[row + x]) }
                    }
                    var low = Int.max, high = Int.min
                    for x in 0..<width {
                        low = min(low, sums[x])
                        high = max(high, sums[x])
                    }
                    let span = max(high - low, bandHeight)
                    for x in 0..<width { profile[x] = (sums[x] - low) * 255 / span }
                    for copy in 0..<rowsPerBand {
                        let row = (band * rowsPerBand + copy) * width
                        for x in 0..<width { dst[row + x] = UInt8(truncatingIfNeeded: profile[x]) }
                    }
                    // Unsharp mask against a 5-tap mean: narrow bars that defocus left as shallow
                    // dips get their depth back.
                    let sharpenedTop = (bandCount + band) * rowsPerBand
                    for x in 0..<width {
                        let left2 = profile[max(0, x - 2)], left1 = profile[max(0, x - 1)]
                        let right1 = profile[min(width - 1, x + 1)], right2 = profile[min(width - 1, x + 2)]
                        let mean = (left2 + left1 + profile[x] + right1 + right2) / 5
                        let value = UInt8(clamping: profile[x] + 2 * (profile[x] - mean))
                        for copy in 0..<rowsPerBand { dst[(sharpenedTop + copy) * width + x] = value }
                    }
                }
            }
        }
    }
}
