#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SeededRandom

/// A projective map of the plane: a 3x3 matrix with the last entry 1, from code space (modules)
/// to image space (pixels) or back. The corpus uses it for tilt, rotation and scale in one.
struct Homography: Sendable {
    var m: [Double]

    /// The homography taking each of the four `from` points to the matching `to` point, by
    /// solving the eight linear equations of the direct linear transform.
    init(from: [(Double, Double)], to: [(Double, Double)]) {
        precondition(from.count == 4 && to.count == 4, "a homography is fixed by four points")
        var rows: [[Double]] = []
        for ((u, v), (x, y)) in zip(from, to) {
            rows.append([u, v, 1, 0, 0, 0, -u * x, -v * x, x])
            rows.append([0, 0, 0, u, v, 1, -u * y, -v * y, y])
        }
        // Gaussian elimination with partial pivoting on the 8x9 augmented matrix.
        for column in 0..<8 {
            let pivot = (column..<8).max { abs(rows[$0][column]) < abs(rows[$1][column]) }!
            rows.swapAt(column, pivot)
            precondition(abs(rows[column][column]) > 1e-12, "degenerate homography corners")
            for row in 0..<8 where row != column {
                let factor = rows[row][column] / rows[column][column]
                if factor != 0 {
                    for k in column..<9 { rows[row][k] -= factor * rows[column][k] }
                }
            }
        }
        m = (0..<8).map { rows[$0][8] / rows[$0][$0] } + [1]
    }

    private init(matrix: [Double]) { m = matrix }

    /// The inverse map (adjugate over determinant, normalised so the last entry is 1).
    var inverse: Homography {
        let a = m
        var inv = [
            a[4] * a[8] - a[5] * a[7], a[2] * a[7] - a[1] * a[8], a[1] * a[5] - a[2] * a[4],
            a[5] * a[6] - a[3] * a[8], a[0] * a[8] - a[2] * a[6], a[2] * a[3] - a[0] * a[5],
            a[3] * a[7] - a[4] * a[6], a[1] * a[6] - a[0] * a[7], a[0] * a[4] - a[1] * a[3],
        ]
        let last = inv[8]
        precondition(abs(last) > 1e-15, "singular homography")
        for i in 0..<9 { inv[i] /= last }
        return Homography(matrix: inv)
    }

    @inline(__always)
    func apply(_ x: Double, _ y: Double) -> (Double, Double) {
        let w = m[6] * x + m[7] * y + m[8]
        return ((m[0] * x + m[1] * y + m[2]) / w, (m[3] * x + m[4] * y + m[5]) / w)
    }
}

/// A floating-point grey image (0 black, 255 white, values may stray outside while effects are
/// applied) on which the corpus composes a scene, then the camera's faults, before quantising.
struct CorpusCanvas {
    let width: Int
    let height: Int
    var pixels: [Float]

    init(width: Int, height: Int, fill: Float) {
        self.width = width
        self.height = height
        pixels = [Float](repeating: fill, count: width * height)
    }

    /// Rounds and clamps to bytes.
    func luma() -> LumaFrame {
        var bytes = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBufferPointer { dst in
                for i in 0..<src.count {
                    let value = src[i]
                    dst[i] = value <= 0 ? 0 : value >= 255 ? 255 : UInt8(value + 0.5)
                }
            }
        }
        return LumaFrame(width: width, height: height, pixels: bytes)
    }

    /// Replaces the pixels with a quantised frame's, so effects that act on bytes (JPEG) see
    /// exactly what a camera would hand over.
    mutating func load(_ frame: LumaFrame) {
        precondition(frame.width == width && frame.height == height)
        pixels = frame.pixels.map { Float($0) }
    }

    // MARK: Scene

    /// Smooth light: a base level, a linear gradient and a few soft Gaussian blobs, as a
    /// counter or a hand behind the code looks through a webcam. The blobs are separable (a row
    /// factor times a column factor), which keeps this cheap even in a debug build.
    mutating func paintBackground(_ random: inout SplitMix64, base: Float) {
        let angle = random.double(in: 0...(2 * Double.pi))
        let slope = random.double(in: 0...60) / Double(max(width, height))
        let gx = cos(angle) * slope, gy = sin(angle) * slope
        let w = width, h = height
        var columnBase = (0..<w).map { Float(gx * (Double($0) - Double(w) / 2)) }
        let rowBase = (0..<h).map { base + Float(gy * (Double($0) - Double(h) / 2)) }
        var columnFactors: [[Float]] = [], rowFactors: [[Float]] = []
        for _ in 0..<random.int(in: 1...4) {
            let x = random.double(in: 0...Double(w)), y = random.double(in: 0...Double(h))
            let radius = random.double(in: 40...220), amplitude = random.double(in: -45...45)
            columnFactors.append((0..<w).map { Float(exp(-(Double($0) - x) * (Double($0) - x) / (2 * radius * radius))) })
            rowFactors.append((0..<h).map { Float(amplitude * exp(-(Double($0) - y) * (Double($0) - y) / (2 * radius * radius))) })
        }
        // Blobs past the first are folded into the columns row by row; one blob stays a product.
        pixels.withUnsafeMutableBufferPointer { px in
            columnBase.withUnsafeMutableBufferPointer { columns in
                for y in 0..<h {
                    let row = y * w
                    let level = rowBase[y]
                    for x in 0..<w { px[row + x] = level + columns[x] }
                    for (blob, factors) in columnFactors.enumerated() {
                        let weight = rowFactors[blob][y]
                        if weight > -0.05 && weight < 0.05 { continue }
                        factors.withUnsafeBufferPointer { f in
                            for x in 0..<w { px[row + x] += weight * f[x] }
                        }
                    }
                }
            }
        }
    }

    /// Fills an axis-aligned rectangle, clipped to the canvas.
    mutating func fill(x: Int, y: Int, width rectWidth: Int, height rectHeight: Int, value: Float) {
        let left = max(0, x), top = max(0, y)
        let right = min(width, x + rectWidth), bottom = min(height, y + rectHeight)
        guard right > left, bottom > top else { return }
        for row in top..<bottom {
            for column in left..<right { pixels[row * width + column] = value }
        }
    }

    /// Printed-matter clutter: lines of glyph-sized dark marks (text), runs of bars of random
    /// widths (like a barcode, but not one), checkerboards and nested squares (like QR finder
    /// patterns). Everything a counter shows that a decoder must not turn into a code.
    mutating func paintClutter(_ random: inout SplitMix64, amount: Int) {
        for _ in 0..<amount {
            let ink = Float(random.double(in: 10...70))
            switch random.below(5) {
            case 0, 1:
                // A paragraph of "words".
                let glyphHeight = random.int(in: 6...14)
                var y = random.int(in: 0...height - 1)
                let left = random.int(in: 0...max(0, width - 60))
                for _ in 0..<random.int(in: 2...7) {
                    var x = left
                    let lineEnd = min(width, left + random.int(in: 80...320))
                    while x < lineEnd {
                        for _ in 0..<random.int(in: 2...8) {
                            let glyphWidth = random.int(in: glyphHeight / 3...glyphHeight)
                            let stroke = random.int(in: 1...max(1, glyphHeight / 4))
                            fill(x: x, y: y, width: glyphWidth, height: stroke, value: ink)
                            fill(x: x, y: y, width: stroke, height: glyphHeight, value: ink)
                            if random.chance(0.5) { fill(x: x + glyphWidth - stroke, y: y, width: stroke, height: glyphHeight, value: ink) }
                            if random.chance(0.5) { fill(x: x, y: y + glyphHeight - stroke, width: glyphWidth, height: stroke, value: ink) }
                            x += glyphWidth + random.int(in: 1...3)
                        }
                        x += random.int(in: 4...10)
                    }
                    y += glyphHeight + random.int(in: 3...8)
                }
            case 2:
                // Bars of random widths.
                var x = random.int(in: 0...max(0, width - 100))
                let y = random.int(in: 0...max(0, height - 40)), barHeight = random.int(in: 20...90)
                let end = min(width, x + random.int(in: 60...300))
                while x < end {
                    let bar = random.int(in: 1...6)
                    fill(x: x, y: y, width: bar, height: barHeight, value: ink)
                    x += bar + random.int(in: 1...6)
                }
            case 3:
                // A checkerboard patch.
                let cell = random.int(in: 2...9)
                let x0 = random.int(in: 0...max(0, width - 60)), y0 = random.int(in: 0...max(0, height - 60))
                let cells = random.int(in: 4...14)
                for j in 0..<cells {
                    for i in 0..<cells where (i + j) % 2 == 0 {
                        fill(x: x0 + i * cell, y: y0 + j * cell, width: cell, height: cell, value: ink)
                    }
                }
            default:
                // Nested squares in the 1:1:3:1:1 ratio of a QR finder pattern, alone.
                let unit = random.int(in: 2...8)
                let x0 = random.int(in: 0...max(0, width - 7 * unit)), y0 = random.int(in: 0...max(0, height - 7 * unit))
                fill(x: x0, y: y0, width: 7 * unit, height: 7 * unit, value: ink)
                fill(x: x0 + unit, y: y0 + unit, width: 5 * unit, height: 5 * unit, value: 220)
                fill(x: x0 + 2 * unit, y: y0 + 2 * unit, width: 3 * unit, height: 3 * unit, value: ink)
            }
        }
    }

    // MARK: Camera faults

    /// Separable Gaussian blur of standard deviation `sigma` pixels: a 3-tap kernel for small
    /// sigmas, three box passes (which converge to a Gaussian) for larger ones.
    mutating func gaussianBlur(sigma: Double) {
        guard sigma > 0.05 else { return }
        if sigma <= 0.8 {
            let side = Float(sigma * sigma / 2)
            convolve3(side: side, horizontal: true)
            convolve3(side: side, horizontal: false)
            return
        }
        let ideal = (12 * sigma * sigma / 3 + 1).squareRoot()
        let radius = max(1, Int(((ideal - 1) / 2).rounded()))
        for _ in 0..<3 {
            boxBlur(radius: radius, horizontal: true)
            boxBlur(radius: radius, horizontal: false)
        }
    }

    private mutating func convolve3(side: Float, horizontal: Bool) {
        let centre = 1 - 2 * side
        let source = pixels
        let w = width, h = height
        let lines = horizontal ? h : w, length = horizontal ? w : h
        let step = horizontal ? 1 : w, lineStep = horizontal ? w : 1
        source.withUnsafeBufferPointer { srcBuffer in
            pixels.withUnsafeMutableBufferPointer { dstBuffer in
                let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!
                var line = 0
                while line < lines {
                    let base = line * lineStep
                    var previous = src[base], current = src[base]
                    var i = 0
                    while i < length {
                        let next = i + 1 < length ? src[base + (i + 1) * step] : current
                        dst[base + i * step] = centre * current + side * (previous + next)
                        previous = current
                        current = next
                        i += 1
                    }
                    line += 1
                }
            }
        }
    }

    /// Multiplies every pixel by `gain` (less light, or more exposure before clipping).
    mutating func scale(by gain: Float) {
        pixels.withUnsafeMutableBufferPointer { buffer in
            let px = buffer.baseAddress!
            var i = 0
            while i < buffer.count {
                px[i] *= gain
                i += 1
            }
        }
    }

    private mutating func boxBlur(radius: Int, horizontal: Bool) {
        let source = pixels
        let w = width, h = height
        let lines = horizontal ? h : w, length = horizontal ? w : h
        let step = horizontal ? 1 : w, lineStep = horizontal ? w : 1
        let scale = 1 / Float(2 * radius + 1)
        source.withUnsafeBufferPointer { srcBuffer in
            pixels.withUnsafeMutableBufferPointer { dstBuffer in
                let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!
                var line = 0
                while line < lines {
                    let base = line * lineStep
                    let first = src[base], last = src[base + (length - 1) * step]
                    // Running sum with the edge pixels repeated beyond the border.
                    var sum: Float = 0
                    var k = -radius
                    while k <= radius {
                        sum += k < 0 ? first : k >= length ? last : src[base + k * step]
                        k += 1
                    }
                    var i = 0
                    while i < length {
                        dst[base + i * step] = sum * scale
                        let outgoing = i - radius, incoming = i + radius + 1
                        sum += (incoming >= length ? last : src[base + incoming * step])
                            - (outgoing < 0 ? first : src[base + outgoing * step])
                        i += 1
                    }
                    line += 1
                }
            }
        }
    }

    /// Motion blur: the mean of `length` copies shifted along `angle` (radians), as when the
    /// phone moves during the exposure.
    mutating func motionBlur(length: Int, angle: Double) {
        guard length > 1 else { return }
        let source = pixels
        let scale = 1 / Float(length)
        let w = width, h = height
        // One pass a shifted copy, each added in place; pixels whose copy would come from
        // outside the frame take the nearest edge pixel.
        source.withUnsafeBufferPointer { srcBuffer in
            pixels.withUnsafeMutableBufferPointer { dstBuffer in
                let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!
                var i = 0
                while i < w * h {
                    dst[i] = 0
                    i += 1
                }
                for copy in 0..<length {
                    let t = Double(copy) - Double(length - 1) / 2
                    let dx = Int((t * cos(angle)).rounded()), dy = Int((t * sin(angle)).rounded())
                    var y = 0
                    while y < h {
                        let sy = y + dy < 0 ? 0 : y + dy >= h ? h - 1 : y + dy
                        let row = y * w, sourceRow = sy * w
                        var x = 0
                        while x < w {
                            let sx = x + dx < 0 ? 0 : x + dx >= w ? w - 1 : x + dx
                            dst[row + x] += src[sourceRow + sx]
                            x += 1
                        }
                        y += 1
                    }
                }
                i = 0
                while i < w * h {
                    dst[i] *= scale
                    i += 1
                }
            }
        }
    }

    /// Adds zero-mean noise of standard deviation `sigma` (a sum of four uniform draws, which is
    /// close to Gaussian), then replaces `saltPepper`
    /// of the pixels with black or white (dead and hot pixels, dust).
    mutating func addNoise(sigma: Double, saltPepper: Double = 0, _ random: inout SplitMix64) {
        // Each pixel sums four uniform 8-bit draws (variance 4 (256² - 1) / 12), scaled to
        // sigma. The sums for the two halves of a 64-bit draw are looked up in a table of the
        // 65536 pairs of bytes, so one generator call and two table reads cover two pixels.
        let scale = Float(sigma / (4 * (65536.0 - 1) / 12).squareRoot())
        let pairs = Self.bytePairSums
        pixels.withUnsafeMutableBufferPointer { buffer in
            pairs.withUnsafeBufferPointer { pairBuffer in
                let px = buffer.baseAddress!, pairSums = pairBuffer.baseAddress!
                let count = buffer.count
                var i = 0
                while i + 1 < count {
                    let bits = random.next()
                    let first = Int(pairSums[Int(bits & 0xFFFF)]) + Int(pairSums[Int((bits >> 16) & 0xFFFF)])
                    let second = Int(pairSums[Int((bits >> 32) & 0xFFFF)]) + Int(pairSums[Int(bits >> 48)])
                    px[i] += Float(first - 510) * scale
                    px[i + 1] += Float(second - 510) * scale
                    i += 2
                }
                if i < count {
                    let bits = random.next()
                    px[i] += Float(Int(pairSums[Int(bits & 0xFFFF)]) + Int(pairSums[Int((bits >> 16) & 0xFFFF)]) - 510) * scale
                }
            }
        }
        if saltPepper > 0 {
            let count = Int(Double(pixels.count) * saltPepper)
            for _ in 0..<count {
                pixels[random.below(pixels.count)] = random.chance(0.5) ? 0 : 255
            }
        }
    }

    /// The sum of the two bytes of every 16-bit value.
    private static let bytePairSums: [UInt16] = (0..<65536).map { UInt16(($0 & 0xFF) + ($0 >> 8)) }

    /// JPEG's loss without its entropy coding: each 8x8 block through the DCT, quantised with
    /// the standard luminance table scaled for `quality` (1–100, as libjpeg's), and back. This
    /// gives the real artefacts: blocking, ringing at module edges, flattened fine detail.
    mutating func jpegCompress(quality: Int) {
        precondition((1...100).contains(quality))
        let base: [Float] = [
            16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
            14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
            18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
        ]
        let scale = quality < 50 ? 5000 / quality : 200 - 2 * quality
        let table = base.map { max(1, min(255, (($0 * Float(scale) + 50) / 100).rounded(.down))) }
        var basis = [Float](repeating: 0, count: 64)
        for k in 0..<8 {
            let alpha = k == 0 ? (1.0 / 8).squareRoot() : (2.0 / 8).squareRoot()
            for n in 0..<8 { basis[k * 8 + n] = Float(alpha * cos(Double.pi * (2 * Double(n) + 1) * Double(k) / 16)) }
        }
        var block = [Float](repeating: 0, count: 64), temp = [Float](repeating: 0, count: 64)
        let w = width, h = height
        basis.withUnsafeBufferPointer { basisBuffer in
            table.withUnsafeBufferPointer { tableBuffer in
                block.withUnsafeMutableBufferPointer { blockBuffer in
                    temp.withUnsafeMutableBufferPointer { tempBuffer in
                        pixels.withUnsafeMutableBufferPointer { pixelBuffer in
                            let basis = basisBuffer.baseAddress!, table = tableBuffer.baseAddress!
                            let block = blockBuffer.baseAddress!, temp = tempBuffer.baseAddress!
                            let pixels = pixelBuffer.baseAddress!
                            var by = 0
                            while by < h {
                                var bx = 0
                                while bx < w {
                                    Self.jpegBlock(pixels, width: w, height: h, x: bx, y: by, basis: basis, table: table, block: block, temp: temp)
                                    bx += 8
                                }
                                by += 8
                            }
                        }
                    }
                }
            }
        }
    }

    /// One 8x8 block through DCT, quantisation and inverse DCT, in place.
    ///
    /// A nearly flat block (a range below the first AC step, so every AC coefficient quantises
    /// to zero or nearly) becomes its mean on the DC step's grid without the transforms: the
    /// same flat block the full path gives, at a fraction of the cost.
    private static func jpegBlock(
        _ pixels: UnsafeMutablePointer<Float>, width w: Int, height h: Int, x bx: Int, y by: Int,
        basis: UnsafePointer<Float>, table: UnsafePointer<Float>, block: UnsafeMutablePointer<Float>, temp: UnsafeMutablePointer<Float>
    ) {
        // Edge blocks repeat their last row and column, as encoders pad.
        var low: Float = 1e9, high: Float = -1e9, total: Float = 0
        var j = 0
        while j < 8 {
            let row = (by + j < h ? by + j : h - 1) * w
            var i = 0
            while i < 8 {
                let value = pixels[row + (bx + i < w ? bx + i : w - 1)] - 128
                block[j * 8 + i] = value
                total += value
                if value < low { low = value }
                if value > high { high = value }
                i += 1
            }
            j += 1
        }
        if high - low < table[1] {
            // DC = 8 × mean with this orthonormal DCT; quantise it as the full path would.
            let dc = (total / 8 / table[0]).rounded() * table[0]
            let flat = dc / 8 + 128
            j = 0
            while j < 8 && by + j < h {
                var n = 0
                while n < 8 && bx + n < w {
                    pixels[(by + j) * w + bx + n] = flat
                    n += 1
                }
                j += 1
            }
            return
        }
        // Forward DCT: rows, then columns with quantisation.
        j = 0
        while j < 8 {
            var k = 0
            while k < 8 {
                var sum: Float = 0
                var n = 0
                while n < 8 {
                    sum += basis[k * 8 + n] * block[j * 8 + n]
                    n += 1
                }
                temp[j * 8 + k] = sum
                k += 1
            }
            j += 1
        }
        var k = 0
        while k < 8 {
            var i = 0
            while i < 8 {
                var sum: Float = 0
                var n = 0
                while n < 8 {
                    sum += basis[k * 8 + n] * temp[n * 8 + i]
                    n += 1
                }
                let q = table[k * 8 + i]
                block[k * 8 + i] = (sum / q).rounded() * q
                i += 1
            }
            k += 1
        }
        // Inverse DCT: columns, then rows.
        var n = 0
        while n < 8 {
            var i = 0
            while i < 8 {
                var sum: Float = 0
                var k = 0
                while k < 8 {
                    sum += basis[k * 8 + n] * block[k * 8 + i]
                    k += 1
                }
                temp[n * 8 + i] = sum
                i += 1
            }
            n += 1
        }
        j = 0
        while j < 8 && by + j < h {
            var n = 0
            while n < 8 && bx + n < w {
                var sum: Float = 0
                var k = 0
                while k < 8 {
                    sum += basis[k * 8 + n] * temp[j * 8 + k]
                    k += 1
                }
                pixels[(by + j) * w + bx + n] = sum + 128
                n += 1
            }
            j += 1
        }
    }
}
