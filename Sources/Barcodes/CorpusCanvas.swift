#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
                for i in 0..<src.count { dst[i] = UInt8(max(0, min(255, src[i] + 0.5))) }
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

    /// Smooth light: a base level, a linear gradient and a few soft blobs, as a counter or a
    /// hand behind the code looks through a webcam.
    mutating func paintBackground(_ random: inout SplitMix64, base: Float) {
        let angle = random.double(in: 0...(2 * Double.pi))
        let slope = Float(random.double(in: 0...60)) / Float(max(width, height))
        let gx = Float(cos(angle)) * slope, gy = Float(sin(angle)) * slope
        var blobs: [(x: Float, y: Float, radius: Float, amplitude: Float)] = []
        for _ in 0..<random.int(in: 1...4) {
            blobs.append((Float(random.double(in: 0...Double(width))), Float(random.double(in: 0...Double(height))),
                          Float(random.double(in: 40...220)), Float(random.double(in: -45...45))))
        }
        let cx = Float(width) / 2, cy = Float(height) / 2
        let w = width
        pixels.withUnsafeMutableBufferPointer { px in
            for y in 0..<height {
                let fy = Float(y)
                for x in 0..<w {
                    let fx = Float(x)
                    var value = base + gx * (fx - cx) + gy * (fy - cy)
                    for blob in blobs {
                        let dx = fx - blob.x, dy = fy - blob.y
                        let d2 = (dx * dx + dy * dy) / (blob.radius * blob.radius)
                        if d2 < 4 { value += blob.amplitude * (1 - d2 / 4) * (1 - d2 / 4) }
                    }
                    px[y * w + x] = value
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
        let step = horizontal ? 1 : w
        source.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    for x in 0..<w {
                        let i = y * w + x
                        let hasBefore = horizontal ? x > 0 : y > 0
                        let hasAfter = horizontal ? x < w - 1 : y < h - 1
                        let before = hasBefore ? src[i - step] : src[i]
                        let after = hasAfter ? src[i + step] : src[i]
                        dst[i] = centre * src[i] + side * (before + after)
                    }
                }
            }
        }
    }

    private mutating func boxBlur(radius: Int, horizontal: Bool) {
        let source = pixels
        let w = width, h = height
        let lines = horizontal ? h : w, length = horizontal ? w : h
        let step = horizontal ? 1 : w, lineStep = horizontal ? w : 1
        let scale = 1 / Float(2 * radius + 1)
        source.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for line in 0..<lines {
                    let base = line * lineStep
                    // Running sum with the edge pixel repeated beyond the border.
                    var sum: Float = 0
                    for k in -radius...radius { sum += src[base + min(max(k, 0), length - 1) * step] }
                    for i in 0..<length {
                        dst[base + i * step] = sum * scale
                        let outgoing = min(max(i - radius, 0), length - 1)
                        let incoming = min(max(i + radius + 1, 0), length - 1)
                        sum += src[base + incoming * step] - src[base + outgoing * step]
                    }
                }
            }
        }
    }

    /// Motion blur: the mean of `length` copies shifted along `angle` (radians), as when the
    /// phone moves during the exposure.
    mutating func motionBlur(length: Int, angle: Double) {
        guard length > 1 else { return }
        let source = pixels
        let offsets = (0..<length).map { i -> (Int, Int) in
            let t = Double(i) - Double(length - 1) / 2
            return (Int((t * cos(angle)).rounded()), Int((t * sin(angle)).rounded()))
        }
        let scale = 1 / Float(length)
        let w = width, h = height
        source.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    for x in 0..<w {
                        var sum: Float = 0
                        for (dx, dy) in offsets {
                            let sx = min(max(x + dx, 0), w - 1), sy = min(max(y + dy, 0), h - 1)
                            sum += src[sy * w + sx]
                        }
                        dst[y * w + x] = sum * scale
                    }
                }
            }
        }
    }

    /// Adds zero-mean noise of standard deviation `sigma` (the sum of four uniform draws, which
    /// is close to Gaussian and costs one generator call a pixel), then replaces `saltPepper`
    /// of the pixels with black or white (dead and hot pixels, dust).
    mutating func addNoise(sigma: Double, saltPepper: Double = 0, _ random: inout SplitMix64) {
        // Four 16-bit uniforms sum to a variance of 4/12 of 65536²; scale that to sigma.
        let scale = Float(sigma / (65536 * (4.0 / 12).squareRoot()))
        pixels.withUnsafeMutableBufferPointer { px in
            for i in 0..<px.count {
                let bits = random.next()
                let sum = Int(bits & 0xFFFF) + Int((bits >> 16) & 0xFFFF) + Int((bits >> 32) & 0xFFFF) + Int(bits >> 48)
                px[i] += Float(sum - 131_070) * scale
            }
        }
        if saltPepper > 0 {
            let count = Int(Double(pixels.count) * saltPepper)
            for _ in 0..<count {
                pixels[random.below(pixels.count)] = random.chance(0.5) ? 0 : 255
            }
        }
    }

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
        for by in Swift.stride(from: 0, to: h, by: 8) {
            for bx in Swift.stride(from: 0, to: w, by: 8) {
                // Edge blocks repeat their last row and column, as encoders pad.
                for j in 0..<8 {
                    for i in 0..<8 {
                        block[j * 8 + i] = pixels[min(by + j, h - 1) * w + min(bx + i, w - 1)] - 128
                    }
                }
                // Forward DCT: rows then columns.
                for j in 0..<8 {
                    for k in 0..<8 {
                        var sum: Float = 0
                        for n in 0..<8 { sum += basis[k * 8 + n] * block[j * 8 + n] }
                        temp[j * 8 + k] = sum
                    }
                }
                for k in 0..<8 {
                    for i in 0..<8 {
                        var sum: Float = 0
                        for n in 0..<8 { sum += basis[k * 8 + n] * temp[n * 8 + i] }
                        let q = table[k * 8 + i]
                        block[k * 8 + i] = (sum / q).rounded() * q
                    }
                }
                // Inverse DCT: columns then rows.
                for n in 0..<8 {
                    for i in 0..<8 {
                        var sum: Float = 0
                        for k in 0..<8 { sum += basis[k * 8 + n] * block[k * 8 + i] }
                        temp[n * 8 + i] = sum
                    }
                }
                for j in 0..<8 where by + j < h {
                    for n in 0..<8 where bx + n < w {
                        var sum: Float = 0
                        for k in 0..<8 { sum += basis[k * 8 + n] * temp[j * 8 + k] }
                        pixels[(by + j) * w + bx + n] = sum + 128
                    }
                }
            }
        }
    }
}
