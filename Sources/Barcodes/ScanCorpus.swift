#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SeededRandom

/// A seeded corpus of camera-like grey frames for measuring decoders: payment codes rendered
/// into a scene, then put through the faults a webcam at a till sees, plus frames with no code.
///
/// Every frame is a pure function of `(seed, index, sizes, categories)`, drawn from its own
/// ``SplitMix64`` sub-stream, so any one frame can be rebuilt alone (to debug it, or to generate
/// a large corpus lazily without holding it in memory), and a corpus is the same on every run
/// and machine. Categories cycle with the index, and sizes cycle once per round of categories,
/// so any `count` that is a multiple of `categories.count * sizes.count` is balanced.
public enum ScanCorpus {
    /// What was done to a frame. Each coded category applies one main fault on top of the mild
    /// blur, noise and tilt every frame gets; the last three categories hold no code at all.
    public enum Category: String, Sendable, Hashable, CaseIterable, Comparable {
        /// A dark-on-light code, mildly tilted, blurred and noisy: the common case.
        case nominal
        /// Turned by any angle, for both QR and Code 128.
        case rotated
        /// The phone tilted 30–50 degrees away from the camera. (Beyond 50 degrees zbar fails to
        /// fit the QR grid whatever the module size: every perspective frame of 47–58 degrees
        /// that no strategy read, at 640x480 and 1280x720 alike.)
        case perspective
        /// Out of focus (Gaussian, sigma 0.3–0.5 of a module) or moved during the exposure
        /// (0.8–1.5 modules).
        case blurred
        /// Heavy sensor noise (sigma 16–32 grey levels) and dead or hot pixels.
        case noisy
        /// Low light: 7–16% of the normal signal, with noise on top.
        case dim
        /// Grey on grey: 25–50 levels between dark and light modules.
        case lowContrast
        /// Overexposed, with a bright reflection veiling part of the code.
        case glare
        /// Light modules on a dark background (a phone in dark mode).
        case inverted
        /// A photographed screen: the interference of its pixel grid with the camera's.
        case moire
        /// Heavy JPEG compression (quality 8–22), as from an MJPEG webcam.
        case jpeg
        /// A thumb over part of the code: up to a tenth of a QR symbol, clear of its finder
        /// patterns, or half to three quarters of a barcode's height. The thumb is shrunk until
        /// zbar reads the code drawn cleanly with it, so every frame is readable in principle.
        case occluded
        /// Far away: QR modules of 1.6–2.3 pixels, Code 128 modules of 1.3–1.8 pixels.
        case smallModules
        /// Held close: the code fills most of the frame.
        case largeModules
        /// No code: heavy noise.
        case noCodeNoise
        /// No code: smooth light, sometimes a phone with a blank screen.
        case noCodeGradient
        /// No code: text, bars, checkerboards and finder-like squares.
        case noCodeClutter

        /// Whether frames of this category contain a code.
        public var hasCode: Bool {
            switch self {
            case .noCodeNoise, .noCodeGradient, .noCodeClutter: false
            default: true
            }
        }

        /// The categories whose frames contain a code.
        public static var coded: [Category] { allCases.filter(\.hasCode) }

        /// Declaration order, so reports list categories as documented here.
        public static func < (lhs: Category, rhs: Category) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// A frame size in pixels.
    public struct FrameSize: Sendable, Hashable, CustomStringConvertible {
        public let width: Int
        public let height: Int

        public init(width: Int, height: Int) {
            precondition(width >= 160 && height >= 120, "corpus frames are at least 160x120")
            self.width = width
            self.height = height
        }

        /// 640x480, the usual webcam preview size.
        public static let vga = FrameSize(width: 640, height: 480)
        /// 1280x720.
        public static let hd = FrameSize(width: 1280, height: 720)
        /// Both standard sizes.
        public static let standard: [FrameSize] = [.vga, .hd]

        /// `640x480`.
        public var description: String { "\(width)x\(height)" }
    }

    /// One frame of the corpus and what a correct decoder reports for it.
    public struct Frame: Sendable {
        /// Position in the corpus; with the seed it rebuilds the frame.
        public let index: Int
        public let category: Category
        /// The code in the frame, or nil for a no-code frame.
        public let expected: ScannedCode?
        public let luma: LumaFrame
        /// The parameters drawn for this frame, for reading a failure.
        public let summary: String
        /// The bounding box of the code with its quiet zone, in pixels (clipped to the frame),
        /// or nil for a no-code frame: for checking a region finder.
        public let codeBox: PixelBox?
    }

    /// The `index`th frame of the corpus for `seed`.
    public static func frame(
        seed: UInt64, index: Int, sizes: [FrameSize] = FrameSize.standard, categories: [Category] = Category.allCases
    ) -> Frame {
        precondition(index >= 0 && !sizes.isEmpty && !categories.isEmpty, "bad corpus frame request")
        let category = categories[index % categories.count]
        let size = sizes[(index / categories.count) % sizes.count]
        var random = SplitMix64.derived(seed: seed, index: UInt64(index))
        var builder = FrameBuilder(size: size, category: category)
        return builder.build(index: index, &random)
    }

    /// The first `count` frames of the corpus for `seed`, in index order.
    public static func generate(
        seed: UInt64, count: Int, sizes: [FrameSize] = FrameSize.standard, categories: [Category] = Category.allCases
    ) -> [Frame] {
        precondition(count >= 0, "a corpus has zero or more frames")
        return (0..<count).map { frame(seed: seed, index: $0, sizes: sizes, categories: categories) }
    }
}

/// The modules of a code in code space: `width` x `height` modules, quiet zone included.
private struct CodeLayout {
    let width: Int
    let height: Int
    /// Row-major, true for a dark module.
    let dark: [Bool]
    let symbology: Symbology
    let label: String

    static func qr(_ text: String) -> CodeLayout {
        // Payloads are at most a few hundred bytes, far below QR's limit, so this cannot throw.
        guard let matrix = try? QREncoder.encode(text, errorCorrection: .medium) else {
            preconditionFailure("corpus payload did not encode as QR: \(text)")
        }
        let quiet = 4, side = matrix.size + 2 * quiet
        var dark = [Bool](repeating: false, count: side * side)
        for y in 0..<matrix.size {
            for x in 0..<matrix.size where matrix.isDark(x: x, y: y) { dark[(y + quiet) * side + x + quiet] = true }
        }
        return CodeLayout(width: side, height: side, dark: dark, symbology: .qrCode, label: "qr v\(matrix.version)")
    }

    /// Whether zbar reads the code drawn cleanly (4 pixels a module, upright) with an ellipse of
    /// `grey` over it, centred at `u, v` with radii `radiusU, radiusV`, all in modules.
    func isReadable(under u: Double, _ v: Double, _ radiusU: Double, _ radiusV: Double, grey: Float, text: String) -> Bool {
        let scale = 4
        var frame = LumaFrame(width: width * scale, height: height * scale)
        for y in 0..<frame.height {
            for x in 0..<frame.width {
                let mu = (Double(x) + 0.5) / Double(scale), mv = (Double(y) + 0.5) / Double(scale)
                let du = (mu - u) / radiusU, dv = (mv - v) / radiusV
                if du * du + dv * dv <= 1 {
                    frame[x, y] = UInt8(grey)
                } else if dark[Int(mv) * width + Int(mu)] {
                    frame[x, y] = 0
                }
            }
        }
        return CodeScanner(symbologies: [symbology]).scan(frame).contains { $0.data == Array(text.utf8) }
    }

    static func code128(_ text: String, heightModules: Int) -> CodeLayout {
        guard let bars = try? Code128.encode(text) else {
            preconditionFailure("corpus payload did not encode as Code 128: \(text)")
        }
        let quiet = 10, width = bars.count + 2 * quiet
        var row = [Bool](repeating: false, count: width)
        for (x, bar) in bars.enumerated() { row[x + quiet] = bar }
        var dark: [Bool] = []
        dark.reserveCapacity(width * heightModules)
        for _ in 0..<heightModules { dark += row }
        return CodeLayout(width: width, height: heightModules, dark: dark, symbology: .code128, label: "c128 \(bars.count)m")
    }
}

/// Draws one frame: the scene, the code placed in it, then the faults of its category.
private struct FrameBuilder {
    let size: ScanCorpus.FrameSize
    let category: ScanCorpus.Category

    init(size: ScanCorpus.FrameSize, category: ScanCorpus.Category) {
        self.size = size
        self.category = category
    }

    /// How the code is shown: on a phone screen or paper with a margin, maybe in a bezel.
    private struct Look {
        var dark: Float
        var light: Float
        var screenMargin: Double
        var bezel: Double
        var bezelValue: Float
    }

    /// A thumb: an ellipse in code space (modules).
    private struct Occluder {
        var u: Double, v: Double, radiusU: Double, radiusV: Double
        var value: Float
    }

    mutating func build(index: Int, _ random: inout SplitMix64) -> ScanCorpus.Frame {
        let scale = Double(size.height) / 480
        var canvas = CorpusCanvas(width: size.width, height: size.height, fill: 0)
        canvas.paintBackground(&random, base: Float(random.double(in: 70...170)))
        guard category.hasCode else {
            return buildNoCode(index: index, canvas: &canvas, &random)
        }
        if random.chance(0.4) { canvas.paintClutter(&random, amount: random.int(in: 2...6)) }

        // MARK: The code
        let isBarcode = random.chance(0.3)
        let kind: CorpusPayload = isBarcode
            ? (random.chance(0.75) ? .digits18 : .reference)
            : random.pick([.emvco, .emvco, .emvco, .digits18, .base64Token, .base64Token, .url, .url])
        let text = kind.make(&random)
        let layout = isBarcode
            ? CodeLayout.code128(text, heightModules: random.int(in: 24...48))
            : CodeLayout.qr(text)

        var module = isBarcode ? random.double(in: 1.6...3.0) * scale : random.double(in: 2.8...5.0) * scale
        var rotation = random.double(in: -8...8)
        var tilt = random.double(in: 0...12)
        let tiltAxis = random.double(in: 0...180)
        var look = Look(dark: Float(random.double(in: 15...50)), light: Float(random.double(in: 180...235)),
                        screenMargin: random.double(in: 1...6), bezel: random.chance(0.5) ? random.double(in: 2...6) : 0,
                        bezelValue: Float(random.double(in: 10...35)))
        var blurSigma = random.double(in: 0.35...0.75)
        var noiseSigma = random.double(in: 1.5...4)
        var notes: [String] = []
        var occluder: Occluder?

        switch category {
        case .rotated:
            rotation = random.double(in: 0...360)
        case .perspective:
            tilt = random.double(in: 30...50)
            rotation = random.double(in: -25...25)
            module *= 1.15
        case .lowContrast:
            look.dark = Float(random.double(in: 90...140))
            look.light = look.dark + Float(random.double(in: 25...50))
        case .inverted:
            let light = look.light
            look.light = Float(random.double(in: 10...40))
            look.dark = light
            look.bezelValue = Float(random.double(in: 5...20))
        case .smallModules:
            module = isBarcode ? random.double(in: 1.3...1.8) : random.double(in: 1.6...2.3)
            blurSigma = random.double(in: 0.3...0.55)
        case .largeModules:
            let extent = Double(max(layout.width, layout.height)) + 2 * look.screenMargin
            let fit = isBarcode ? 0.92 * Double(size.width) / extent : 0.92 * Double(size.height) / extent
            module = fit * random.double(in: 0.85...1.0)
        case .occluded:
            if isBarcode {
                let radiusV = Double(layout.height) * random.double(in: 0.5...0.75)
                occluder = Occluder(u: Double(layout.width) * random.double(in: 0.3...0.7), v: -radiusV * 0.2,
                                    radiusU: Double(layout.width) * random.double(in: 0.1...0.22), radiusV: radiusV,
                                    value: Float(random.double(in: 120...190)))
            } else {
                let radiusV = Double(layout.height) * random.double(in: 0.22...0.32)
                occluder = Occluder(u: Double(layout.width) * random.double(in: 0.55...0.75),
                                    v: Double(layout.height) - 4 + radiusV * 0.3,
                                    radiusU: Double(layout.width) * random.double(in: 0.1...0.15), radiusV: radiusV,
                                    value: Float(random.double(in: 120...190)))
            }
        default:
            break
        }
        if var thumb = occluder {
            // A thumb may hide what no decoder can restore (a finder pattern, more codewords
            // than the error correction covers). Shrink it until zbar reads the code drawn
            // cleanly, so every occluded frame is readable in principle.
            var shrinks = 0
            while !layout.isReadable(under: thumb.u, thumb.v, thumb.radiusU, thumb.radiusV, grey: thumb.value, text: text),
                  shrinks < 12 {
                thumb.radiusU *= 0.85
                thumb.radiusV *= 0.85
                shrinks += 1
            }
            occluder = thumb
            notes.append("thumb=\(shrinks)")
        }

        // MARK: Geometry
        // The code plane in 3D, centred on the optical axis, tilted about an in-plane axis, turned
        // in the image plane, and seen by a pinhole camera of focal length equal to the width.
        let focal = Double(size.width)
        let extentU = Double(layout.width) / 2 + look.screenMargin + look.bezel
        let extentV = Double(layout.height) / 2 + look.screenMargin + look.bezel
        func project(_ u: Double, _ v: Double, module: Double) -> (Double, Double) {
            let x = (u - Double(layout.width) / 2) * module, y = (v - Double(layout.height) / 2) * module
            // Rodrigues rotation by `tilt` about the in-plane unit axis (ax, ay, 0).
            let axis = tiltAxis * Double.pi / 180, angle = tilt * Double.pi / 180
            let ax = cos(axis), ay = sin(axis)
            let dot = ax * x + ay * y
            let c = cos(angle), s = sin(angle)
            let rx = x * c + ax * dot * (1 - c)
            let ry = y * c + ay * dot * (1 - c)
            let rz = s * (ax * y - ay * x)
            let turn = rotation * Double.pi / 180
            let tx = rx * cos(turn) - ry * sin(turn), ty = rx * sin(turn) + ry * cos(turn)
            let depth = focal + rz
            return (focal * tx / depth, focal * ty / depth)
        }
        let outer = [(-extentU, -extentV), (extentU, -extentV), (extentU, extentV), (-extentU, extentV)]
            .map { ($0.0 + Double(layout.width) / 2, $0.1 + Double(layout.height) / 2) }
        var corners = outer.map { project($0.0, $0.1, module: module) }
        // Shrink until the whole screen fits in the frame with a small border.
        for _ in 0..<20 {
            let spanX = corners.map(\.0).max()! - corners.map(\.0).min()!
            let spanY = corners.map(\.1).max()! - corners.map(\.1).min()!
            let fit = min(0.98 * Double(size.width) / spanX, 0.98 * Double(size.height) / spanY)
            if fit >= 1 || category == .largeModules && fit >= 0.999 { break }
            module *= fit * 0.99
            corners = outer.map { project($0.0, $0.1, module: module) }
        }
        let minX = corners.map(\.0).min()!, maxX = corners.map(\.0).max()!
        let minY = corners.map(\.1).min()!, maxY = corners.map(\.1).max()!
        let offsetX = random.double(in: (-minX)...max(-minX, Double(size.width) - maxX))
        let offsetY = random.double(in: (-minY)...max(-minY, Double(size.height) - maxY))
        let codeCorners = [(0.0, 0.0), (Double(layout.width), 0), (Double(layout.width), Double(layout.height)),
                           (0, Double(layout.height))]
        let imageCorners = codeCorners.map { corner -> (Double, Double) in
            let (x, y) = project(corner.0, corner.1, module: module)
            return (x + offsetX, y + offsetY)
        }
        let toImage = Homography(from: codeCorners, to: imageCorners)
        let bounds = (left: max(0, Int(minX + offsetX) - 1), top: max(0, Int(minY + offsetY) - 1),
                      right: min(size.width, Int((maxX + offsetX).rounded(.up)) + 1),
                      bottom: min(size.height, Int((maxY + offsetY).rounded(.up)) + 1))
        var screen: [Float]? = category == .moire ? [Float](repeating: 0, count: size.width * size.height) : nil
        render(layout, on: &canvas, toCode: toImage.inverse, bounds: bounds, look: look,
               occluder: occluder, supersample: module < 2.5 ? 3 : 2, screen: &screen)
        notes.append(String(format1: "m=%.2f", module))
        notes.append(String(format1: "rot=%.0f", rotation))
        notes.append(String(format1: "tilt=%.0f", tilt))

        // MARK: Faults
        switch category {
        case .moire:
            let beatPeriod = random.double(in: 5...14), gridPeriod = random.double(in: 2.2...3.4)
            let beatAngle = random.double(in: 0...Double.pi), gridAngle = random.double(in: 0...Double.pi)
            let beatAmplitude = Float(random.double(in: 0.25...0.45)), gridAmplitude = Float(random.double(in: 0.15...0.3))
            applyMoire(&canvas, screen: screen ?? [], beat: (beatPeriod, beatAngle, beatAmplitude),
                       grid: (gridPeriod, gridAngle, gridAmplitude))
            notes.append(String(format1: "beat=%.1fpx", beatPeriod))
        case .glare:
            let exposure = Float(random.double(in: 1.15...1.5))
            let centre = toImage.apply(Double(layout.width) * random.double(in: 0.25...0.75),
                                       Double(layout.height) * random.double(in: 0.25...0.75))
            let radius = module * Double(max(layout.width, layout.height)) * random.double(in: 0.15...0.35)
            let strength = Float(random.double(in: 0.55...0.85))
            applyGlare(&canvas, exposure: exposure, centre: centre, radius: radius, strength: strength)
            notes.append(String(format1: "veil=%.2f", Double(strength)))
        case .blurred:
            if random.chance(0.5) {
                blurSigma = module * random.double(in: 0.3...0.5)
                notes.append(String(format1: "defocus=%.2f", blurSigma))
            } else {
                let length = max(2, Int((module * random.double(in: 0.8...1.5)).rounded()))
                canvas.motionBlur(length: length, angle: random.double(in: 0...Double.pi))
                notes.append("motion=\(length)")
            }
        case .noisy:
            noiseSigma = random.double(in: 16...32)
            notes.append(String(format1: "noise=%.0f", noiseSigma))
        default:
            break
        }
        canvas.gaussianBlur(sigma: blurSigma)
        if category == .dim {
            let gain = Float(random.double(in: 0.07...0.16))
            canvas.scale(by: gain)
            noiseSigma = random.double(in: 1.0...2.5)
            notes.append(String(format1: "gain=%.2f", Double(gain)))
        }
        canvas.addNoise(sigma: noiseSigma, saltPepper: category == .noisy ? random.double(in: 0.002...0.02) : 0, &random)
        if category == .jpeg {
            let quality = random.int(in: 8...22)
            canvas.load(canvas.luma())
            canvas.jpegCompress(quality: quality)
            notes.append("q=\(quality)")
        }
        let expected = ScannedCode(symbology: layout.symbology, data: Array(text.utf8))
        let left = max(0, Int(imageCorners.map(\.0).min()!)), top = max(0, Int(imageCorners.map(\.1).min()!))
        let right = min(size.width, Int(imageCorners.map(\.0).max()!.rounded(.up)))
        let bottom = min(size.height, Int(imageCorners.map(\.1).max()!.rounded(.up)))
        return ScanCorpus.Frame(index: index, category: category, expected: expected, luma: canvas.luma(),
                                summary: "\(category.rawValue) \(size) \(layout.label) \(kind.rawValue) " + notes.joined(separator: " "),
                                codeBox: PixelBox(x: left, y: top, width: right - left, height: bottom - top))
    }

    private func buildNoCode(index: Int, canvas: inout CorpusCanvas, _ random: inout SplitMix64) -> ScanCorpus.Frame {
        var notes: [String] = []
        switch category {
        case .noCodeNoise:
            let sigma = random.double(in: 20...60)
            canvas.addNoise(sigma: sigma, saltPepper: random.double(in: 0...0.02), &random)
            notes.append(String(format1: "noise=%.0f", sigma))
        case .noCodeGradient:
            if random.chance(0.5) {
                // A phone with a blank screen: bright rectangle in a dark bezel.
                let w = random.int(in: size.width / 5...size.width / 2), h = random.int(in: size.height / 4...size.height * 3 / 5)
                let x = random.int(in: 0...size.width - w), y = random.int(in: 0...size.height - h)
                let bezel = random.int(in: 4...16)
                canvas.fill(x: x - bezel, y: y - bezel, width: w + 2 * bezel, height: h + 2 * bezel, value: 20)
                canvas.fill(x: x, y: y, width: w, height: h, value: Float(random.double(in: 170...240)))
                notes.append("blank screen")
            }
            canvas.gaussianBlur(sigma: random.double(in: 0.5...2))
            canvas.addNoise(sigma: random.double(in: 1...5), &random)
        default:
            let amount = random.int(in: 6...16)
            canvas.paintClutter(&random, amount: amount)
            canvas.gaussianBlur(sigma: random.double(in: 0.35...1.2))
            canvas.addNoise(sigma: random.double(in: 1.5...8), &random)
            if random.chance(0.3) {
                canvas.load(canvas.luma())
                canvas.jpegCompress(quality: random.int(in: 10...40))
                notes.append("jpeg")
            }
            notes.append("clutter=\(amount)")
        }
        return ScanCorpus.Frame(index: index, category: category, expected: nil, luma: canvas.luma(),
                                summary: "\(category.rawValue) \(size) " + notes.joined(separator: " "), codeBox: nil)
    }

    /// Paints the code, its screen or paper, the bezel and any thumb over the pixels in
    /// `bounds`, each the mean of `supersample`² point samples mapped into code space; pixels
    /// outside the bezel keep the background. Records the screen's coverage for moiré.
    private func render(
        _ layout: CodeLayout, on canvas: inout CorpusCanvas, toCode: Homography,
        bounds: (left: Int, top: Int, right: Int, bottom: Int), look: Look, occluder: Occluder?,
        supersample: Int, screen: inout [Float]?
    ) {
        let width = Double(layout.width), height = Double(layout.height)
        let margin = look.screenMargin, outer = look.screenMargin + look.bezel
        let sampleWeight = 1 / Float(supersample * supersample)
        let canvasWidth = canvas.width, layoutWidth = layout.width
        // The map's coefficients as locals: the debug build does not inline array reads.
        let h = toCode.m
        let (h0, h1, h2, h3, h4, h5, h6, h7, h8) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8])
        let step = 1 / Double(supersample)
        var coverage = screen ?? []
        let recordScreen = screen != nil
        layout.dark.withUnsafeBufferPointer { darkBuffer in
            canvas.pixels.withUnsafeMutableBufferPointer { pixelBuffer in
                coverage.withUnsafeMutableBufferPointer { coverageBuffer in
                    // Raw pointers and while loops: the debug build (the unit tests) runs these
                    // per-sample loops several times faster than with iterators and subscripts.
                    let dark = darkBuffer.baseAddress!, pixels = pixelBuffer.baseAddress!
                    let screenCoverage = coverageBuffer.baseAddress
                    var y = bounds.top
                    while y < bounds.bottom {
                        var x = bounds.left
                        while x < bounds.right {
                            let index = y * canvasWidth + x
                            let background = pixels[index]
                            var total: Float = 0
                            var onScreen: Float = 0
                            var touched = false
                            var sy = 0
                            while sy < supersample {
                                let py = Double(y) + (Double(sy) + 0.5) * step
                                var sx = 0
                                while sx < supersample {
                                    let px = Double(x) + (Double(sx) + 0.5) * step
                                    sx += 1
                                    let w = h6 * px + h7 * py + h8
                                    let u = (h0 * px + h1 * py + h2) / w, v = (h3 * px + h4 * py + h5) / w
                                    if u < -outer || u >= width + outer || v < -outer || v >= height + outer {
                                        total += background
                                        continue
                                    }
                                    touched = true
                                    if let thumb = occluder {
                                        let du = (u - thumb.u) / thumb.radiusU, dv = (v - thumb.v) / thumb.radiusV
                                        let d2 = du * du + dv * dv
                                        if d2 <= 1 {
                                            total += thumb.value * Float(1 - 0.25 * d2)
                                            continue
                                        }
                                    }
                                    if u >= 0, u < width, v >= 0, v < height {
                                        total += dark[Int(v) * layoutWidth + Int(u)] ? look.dark : look.light
                                        onScreen += 1
                                    } else if u >= -margin, u < width + margin, v >= -margin, v < height + margin {
                                        total += look.light
                                        onScreen += 1
                                    } else {
                                        total += look.bezelValue
                                    }
                                }
                                sy += 1
                            }
                            if touched {
                                pixels[index] = total * sampleWeight
                                if recordScreen { screenCoverage![index] = onScreen * sampleWeight }
                            }
                            x += 1
                        }
                        y += 1
                    }
                }
            }
        }
        if recordScreen { screen = coverage }
    }

    /// Darkens the screen by two interfering gratings: a coarse beat (the visible moiré) and
    /// the fine pixel grid of the display.
    private func applyMoire(
        _ canvas: inout CorpusCanvas, screen: [Float],
        beat: (period: Double, angle: Double, amplitude: Float), grid: (period: Double, angle: Double, amplitude: Float)
    ) {
        let bx = Float(cos(beat.angle) / beat.period), byy = Float(sin(beat.angle) / beat.period)
        let gx = Float(cos(grid.angle) / grid.period), gy = Float(sin(grid.angle) / grid.period)
        let twoPi = Float(2 * Double.pi)
        let width = canvas.width, height = canvas.height
        screen.withUnsafeBufferPointer { coverage in
            canvas.pixels.withUnsafeMutableBufferPointer { pixels in
                var y = 0
                while y < height {
                    var x = 0
                    while x < width {
                        let i = y * width + x
                        let amount = coverage[i]
                        if amount > 0 {
                            let fx = Float(x), fy = Float(y)
                            let b = 0.5 + 0.5 * sinf(twoPi * (bx * fx + byy * fy))
                            let g = 0.5 + 0.5 * sinf(twoPi * (gx * fx + gy * fy))
                            pixels[i] *= 1 - amount * (beat.amplitude * b + grid.amplitude * g)
                        }
                        x += 1
                    }
                    y += 1
                }
            }
        }
    }

    /// Overexposure (a gain, clipped later) and a reflection: a Gaussian veil pulling pixels
    /// toward white by up to `strength` at `centre`.
    private func applyGlare(
        _ canvas: inout CorpusCanvas, exposure: Float, centre: (Double, Double), radius: Double, strength: Float
    ) {
        let cx = Float(centre.0), cy = Float(centre.1)
        let inverseTwoSigma2 = Float(1 / (2 * radius * radius))
        let width = canvas.width, height = canvas.height
        canvas.pixels.withUnsafeMutableBufferPointer { pixels in
            var y = 0
            while y < height {
                let dy = Float(y) - cy
                var x = 0
                while x < width {
                    let i = y * width + x
                    let dx = Float(x) - cx
                    let veil = strength * expf(-(dx * dx + dy * dy) * inverseTwoSigma2)
                    let exposed = pixels[i] * exposure + 20
                    let clipped = exposed > 255 ? 255 : exposed
                    pixels[i] = clipped + (255 - clipped) * veil
                    x += 1
                }
                y += 1
            }
        }
    }
}

extension String {
    /// One number formatted with a C format, for frame summaries (Barcodes avoids Foundation).
    init(format1 format: String, _ value: Double) {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([value]) { vsnprintf(&buffer, buffer.count, format, $0) }
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
