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

    /// Light-on-dark becomes dark-on-light: dark-mode phone screens show codes this way, and zbar
    /// finds QR finder patterns and Code 128 start characters only as dark-on-light.
    public static func invert(_ source: LumaFrame, into destination: inout LumaFrame) {
        prepare(&destination, width: source.width, height: source.height)
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<src.count { dst[i] = 255 &- src[i] }
            }
        }
    }

    /// Maps the `clipFraction` darkest pixels to 0 and the `clipFraction` brightest to 255,
    /// linearly in between: dim and washed-out frames get back a full range, so zbar's edge
    /// detector, whose thresholds are absolute, sees the code's edges.
    public static func stretchContrast(_ source: LumaFrame, into destination: inout LumaFrame, clipFraction: Double = 0.005) {
        precondition(clipFraction >= 0 && clipFraction < 0.5, "clip fraction must be in 0..<0.5")
        prepare(&destination, width: source.width, height: source.height)
        var histogram = [Int](repeating: 0, count: 256)
        source.pixels.withUnsafeBufferPointer { src in
            histogram.withUnsafeMutableBufferPointer { bins in
                for value in src { bins[Int(value)] += 1 }
            }
        }
        let clipCount = Int(Double(source.pixels.count) * clipFraction)
        var low = 0, seen = 0
        while low < 255, seen + histogram[low] <= clipCount { seen += histogram[low]; low += 1 }
        var high = 255
        seen = 0
        while high > 0, seen + histogram[high] <= clipCount { seen += histogram[high]; high -= 1 }
        // A flat frame has nothing to stretch; a span below 4 would only amplify quantisation.
        let span = max(high - low, 4)
        var table = [UInt8](repeating: 0, count: 256)
        for value in 0..<256 {
            table[value] = UInt8(clamping: (value - low) * 255 / span)
        }
        map(source, into: &destination, table: table)
    }

    /// Applies a 256-entry lookup table to every pixel.
    public static func map(_ source: LumaFrame, into destination: inout LumaFrame, table: [UInt8]) {
        precondition(table.count == 256, "a lookup table has 256 entries")
        prepare(&destination, width: source.width, height: source.height)
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                table.withUnsafeBufferPointer { lut in
                    for i in 0..<src.count { dst[i] = lut[Int(src[i])] }
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
        source.pixels.withUnsafeBufferPointer { src in
            integral.withUnsafeMutableBufferPointer { sums in
                // Row 0 and column 0 stay zero, so window sums need no edge cases.
                for x in 0...width { sums[x] = 0 }
                for y in 0..<height {
                    var rowSum: UInt32 = 0
                    let above = y * stride, here = (y + 1) * stride, row = y * width
                    sums[here] = 0
                    for x in 0..<width {
                        rowSum &+= UInt32(src[row + x])
                        sums[here + x + 1] = sums[above + x + 1] &+ rowSum
                    }
                }
                destination.pixels.withUnsafeMutableBufferPointer { dst in
                    let keep = UInt64(100 - percent)
                    for y in 0..<height {
                        let top = max(0, y - radius), bottom = min(height - 1, y + radius)
                        let rowTop = top * stride, rowBottom = (bottom + 1) * stride
                        let rows = UInt64(bottom - top + 1)
                        let row = y * width
                        for x in 0..<width {
                            let left = max(0, x - radius), right = min(width - 1, x + radius)
                            let sum = UInt64(sums[rowBottom + right + 1] &- sums[rowTop + right + 1]
                                             &- sums[rowBottom + left] &+ sums[rowTop + left])
                            let count = rows * UInt64(right - left + 1)
                            dst[row + x] = UInt64(src[row + x]) * count * 100 < sum * keep ? 0 : 255
                        }
                    }
                }
            }
        }
    }

    /// A 3x3 box average: halves Gaussian sensor noise and flattens the fine pixel grid of a
    /// photographed screen (moiré), at the cost of some sharpness. Borders are copied.
    public static func boxBlur3(_ source: LumaFrame, into destination: inout LumaFrame) {
        let width = source.width, height = source.height
        prepare(&destination, width: width, height: height)
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                copyBorder(src, dst, width: width, height: height)
                guard width >= 3, height >= 3 else { return }
                for y in 1..<(height - 1) {
                    let up = (y - 1) * width, row = y * width, down = (y + 1) * width
                    // Column sums of three rows, slid along the row: 3 adds a pixel, not 9.
                    var a = Int(src[up]) + Int(src[row]) + Int(src[down])
                    var b = Int(src[up + 1]) + Int(src[row + 1]) + Int(src[down + 1])
                    for x in 1..<(width - 1) {
                        let c = Int(src[up + x + 1]) + Int(src[row + x + 1]) + Int(src[down + x + 1])
                        dst[row + x] = UInt8(truncatingIfNeeded: ((a + b + c) &* 7282) >> 16)
                        a = b
                        b = c
                    }
                }
            }
        }
    }

    /// A 3x3 median: removes salt-and-pepper specks and single-pixel noise while keeping edges
    /// sharper than a box average does. Borders are copied.
    public static func median3(_ source: LumaFrame, into destination: inout LumaFrame) {
        let width = source.width, height = source.height
        prepare(&destination, width: width, height: height)
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                copyBorder(src, dst, width: width, height: height)
                guard width >= 3, height >= 3 else { return }
                for y in 1..<(height - 1) {
                    let up = (y - 1) * width, row = y * width, down = (y + 1) * width
                    for x in 1..<(width - 1) {
                        // Sort each column of three, then the median of nine is the median of
                        // (max of the minima, median of the medians, min of the maxima).
                        var a0 = src[up + x - 1], a1 = src[row + x - 1], a2 = src[down + x - 1]
                        var b0 = src[up + x], b1 = src[row + x], b2 = src[down + x]
                        var c0 = src[up + x + 1], c1 = src[row + x + 1], c2 = src[down + x + 1]
                        sort3(&a0, &a1, &a2)
                        sort3(&b0, &b1, &b2)
                        sort3(&c0, &c1, &c2)
                        let lowMax = max(a0, max(b0, c0))
                        let highMin = min(a2, min(b2, c2))
                        var m0 = a1, m1 = b1, m2 = c1
                        sort3(&m0, &m1, &m2)
                        var t0 = lowMax, t1 = m1, t2 = highMin
                        sort3(&t0, &t1, &t2)
                        dst[row + x] = t1
                    }
                }
            }
        }
    }

    @inline(__always)
    private static func sort3(_ a: inout UInt8, _ b: inout UInt8, _ c: inout UInt8) {
        if a > b { swap(&a, &b) }
        if b > c { swap(&b, &c) }
        if a > b { swap(&a, &b) }
    }

    private static func copyBorder(_ src: UnsafeBufferPointer<UInt8>, _ dst: UnsafeMutableBufferPointer<UInt8>, width: Int, height: Int) {
        for x in 0..<width {
            dst[x] = src[x]
            dst[(height - 1) * width + x] = src[(height - 1) * width + x]
        }
        for y in 0..<height {
            dst[y * width] = src[y * width]
            dst[y * width + width - 1] = src[y * width + width - 1]
        }
    }

    /// Sharpens by unsharp masking against the 3x3 mean: `p + amount (p - mean)`. Gives a
    /// defocused code steeper edges for zbar's edge detector. Borders are copied.
    public static func sharpen(_ source: LumaFrame, into destination: inout LumaFrame, amount: Int = 2) {
        precondition(amount >= 1, "sharpening amount must be at least 1")
        let width = source.width, height = source.height
        prepare(&destination, width: width, height: height)
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                copyBorder(src, dst, width: width, height: height)
                guard width >= 3, height >= 3 else { return }
                for y in 1..<(height - 1) {
                    let up = (y - 1) * width, row = y * width, down = (y + 1) * width
                    var a = Int(src[up]) + Int(src[row]) + Int(src[down])
                    var b = Int(src[up + 1]) + Int(src[row + 1]) + Int(src[down + 1])
                    for x in 1..<(width - 1) {
                        let c = Int(src[up + x + 1]) + Int(src[row + x + 1]) + Int(src[down + x + 1])
                        let pixel = Int(src[row + x])
                        let sharpened = pixel + amount * (9 * pixel - (a + b + c)) / 9
                        dst[row + x] = UInt8(clamping: sharpened)
                        a = b
                        b = c
                    }
                }
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
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let top = 2 * y * sourceWidth, bottom = top + sourceWidth, row = y * width
                    for x in 0..<width {
                        let sum = Int(src[top + 2 * x]) + Int(src[top + 2 * x + 1])
                            + Int(src[bottom + 2 * x]) + Int(src[bottom + 2 * x + 1])
                        dst[row + x] = UInt8(truncatingIfNeeded: (sum + 2) >> 2)
                    }
                }
            }
        }
    }

    /// Crops `x, y, width, height` (clamped to the frame) and scales it by `factor`, 1…4, with
    /// bilinear interpolation: modules of one or two pixels become wide enough for zbar's edge
    /// detector, and cropping first keeps the cost to the region of interest.
    public static func upscale(
        _ source: LumaFrame, into destination: inout LumaFrame,
        region: (x: Int, y: Int, width: Int, height: Int)? = nil, factor: Int = 2
    ) {
        precondition((1...4).contains(factor), "upscale factor must be 1…4")
        let left = max(0, region?.x ?? 0), top = max(0, region?.y ?? 0)
        let right = min(source.width, left + (region?.width ?? source.width))
        let bottom = min(source.height, top + (region?.height ?? source.height))
        precondition(right > left && bottom > top, "empty upscale region")
        let cropWidth = right - left, cropHeight = bottom - top
        let width = cropWidth * factor, height = cropHeight * factor
        prepare(&destination, width: width, height: height)
        let sourceWidth = source.width
        // Fixed-point (8 fraction bits) source positions of each output column, computed once.
        var columns = [(index: Int, weight: Int)](repeating: (0, 0), count: width)
        for x in 0..<width {
            let position = max(0, ((2 * x + 1) * 256 / factor - 256) / 2)
            let index = min(position >> 8, cropWidth - 1)
            columns[x] = (left + index, index + 1 < cropWidth ? position & 255 : 0)
        }
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                columns.withUnsafeBufferPointer { cols in
                    for y in 0..<height {
                        let position = max(0, ((2 * y + 1) * 256 / factor - 256) / 2)
                        let index = min(position >> 8, cropHeight - 1)
                        let weightY = index + 1 < cropHeight ? position & 255 : 0
                        let row0 = (top + index) * sourceWidth
                        let row1 = weightY > 0 ? row0 + sourceWidth : row0
                        let out = y * width
                        for x in 0..<width {
                            let (column, weightX) = cols[x]
                            let next = weightX > 0 ? column + 1 : column
                            let upper = Int(src[row0 + column]) * (256 - weightX) + Int(src[row0 + next]) * weightX
                            let lower = Int(src[row1 + column]) * (256 - weightX) + Int(src[row1 + next]) * weightX
                            dst[out + x] = UInt8(truncatingIfNeeded: (upper * (256 - weightY) + lower * weightY + 32768) >> 16)
                        }
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
        let width = Int((Double(sourceWidth) * abs(c) + Double(sourceHeight) * abs(s)).rounded(.up))
        let height = Int((Double(sourceWidth) * abs(s) + Double(sourceHeight) * abs(c)).rounded(.up))
        prepare(&destination, width: width, height: height)
        var total = 0
        source.pixels.withUnsafeBufferPointer { src in
            for i in Swift.stride(from: 0, to: src.count, by: 61) { total += Int(src[i]) }
        }
        let fill = UInt8(total / max(1, (source.pixels.count + 60) / 61))
        // Fixed point, 16 fraction bits: inverse-map each output pixel centre into the source.
        let one = 65536.0
        let cosF = Int(c * one), sinF = Int(s * one)
        let centreX = Int((Double(sourceWidth) * 0.5 - 0.5) * one), centreY = Int((Double(sourceHeight) * 0.5 - 0.5) * one)
        let halfWidth = Double(width) * 0.5 - 0.5, halfHeight = Double(height) * 0.5 - 0.5
        source.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let dy = Double(y) - halfHeight
                    var sx = Int((-halfWidth * c - dy * s) * one) + centreX
                    var sy = Int((-halfWidth * s + dy * c) * one) + centreY
                    let out = y * width
                    for x in 0..<width {
                        let ix = sx >> 16, iy = sy >> 16
                        if ix >= 0, iy >= 0, ix + 1 < sourceWidth, iy + 1 < sourceHeight {
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
                    }
                }
            }
        }
    }

    /// Collapses horizontal bands of an image whose bars run vertically into one averaged row
    /// each: averaging the rows of a barcode along its bars cancels noise, moiré and JPEG blocks
    /// by the square root of the band's height, and leaves its width profile exact. Each row is
    /// then stretched to the full range, and a sharpened copy of every band follows the plain
    /// ones (against defocus), each drawn `rowsPerBand` rows tall so zbar's row scan finds it.
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
