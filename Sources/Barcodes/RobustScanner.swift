/// One way of looking at a frame before zbar scans it: a filter, applied to the whole frame or
/// to each likely code region (``RegionFinder``). ``RobustScanner`` tries several in turn.
public struct ScanStrategy: Sendable, Hashable, CustomStringConvertible {
    /// Where the filter applies.
    public enum Scope: String, Sendable, Hashable, CaseIterable {
        /// The whole frame.
        case frame
        /// Each region ``RegionFinder`` ranks as likely, cropped with its quiet zone: a tenth of
        /// the pixels, so even costly filters fit the budget.
        case regions
    }

    /// What is done to the pixels before zbar scans them.
    public enum Filter: String, Sendable, Hashable, CaseIterable {
        /// Nothing; zbar on every second line for a frame (density 2), every line for a crop.
        case none
        /// Nothing, but every line (density 1): thin codes between the lines of a sparse pass.
        case dense
        /// Light and dark swapped: codes on dark-mode screens, which zbar never reads as they are.
        case invert
        /// Contrast stretched to the full range: dim light, grey on grey.
        case stretch
        /// Binarised against the local mean: glare, uneven light, low contrast, blur.
        case threshold
        /// A 3x3 median: sensor noise, dead pixels, JPEG speckle.
        case median
        /// A 3x3 box average: Gaussian noise and a screen's fine pixel grid.
        case box
        /// Halved by 2x2 averaging: large modules, noise and moiré averaged away, a quarter of the cost.
        case halve
        /// Doubled (bilinear): modules of one or two pixels.
        case double
        /// Unsharp-masked: defocus and motion blur.
        case sharpen
        /// Turned so the region's edges run vertically: Code 128 at angles where no row or column
        /// of zbar's crosses all its bars. Regions only, and only when their edges agree in direction.
        case align
    }

    public let scope: Scope
    public let filter: Filter

    public init(_ scope: Scope, _ filter: Filter) {
        precondition(!(scope == .frame && filter == .align), "aligning needs a region's direction")
        self.scope = scope
        self.filter = filter
    }

    /// The frame as captured, density 2: the cheap first look.
    public static let plain = ScanStrategy(.frame, .none)

    /// Every strategy there is, for measuring them one by one.
    public static let all: [ScanStrategy] = Scope.allCases.flatMap { scope in
        Filter.allCases.compactMap { filter in scope == .frame && filter == .align ? nil : ScanStrategy(scope, filter) }
    }

    /// `halve` for a frame strategy, `region-threshold` for a region one.
    public var description: String { scope == .frame ? filter.rawValue : "region-\(filter.rawValue)" }
}

/// What ``RobustScanner`` found in one frame, and how.
public struct RobustScanResult: Sendable, Equatable {
    /// The codes found, deduplicated, in the order first found; empty when none was.
    public let codes: [ScannedCode]
    /// The strategy that found them, or nil when none did.
    public let strategy: ScanStrategy?
    /// The strategies run on this frame, in order (the last is `strategy` when one decoded).
    public let tried: [ScanStrategy]
    /// Wall time spent on the frame.
    public let elapsed: Duration
}

/// Where a live scan loop is in the strategy list: kept by the caller from frame to frame, so
/// the slow strategies are spread over consecutive frames instead of all run on each one.
public struct ScanCursor: Sendable, Equatable {
    /// The index in the scanner's fallback list of the next strategy to try.
    public internal(set) var next = 0
    /// The last strategy that decoded; tried early on the next frames, since a code held in
    /// view usually needs the same help from one frame to the next.
    public internal(set) var lastSuccess: ScanStrategy?

    public init() {}
}

/// A zbar scanner that does not give up after one look: when the frame as captured yields
/// nothing, it tries filtered versions of the frame and of its likely code regions, cheapest and
/// most often useful first, within a time budget.
///
/// Image operations run on buffers the scanner keeps, so once warm a scan allocates little
/// beyond its result. Like ``CodeScanner`` it is not `Sendable`: make one per thread or task.
public final class RobustScanner {
    /// The default budget per frame. A 30 fps camera delivers a frame every 33 ms; this leaves
    /// the capture thread and the rest of the loop room on a two-core machine.
    public static let budgetMillisDefault = 30
    /// The largest budget accepted; beyond it a live loop falls a frame behind for one scan.
    public static let budgetMillisMax = 1_000
    /// Regions searched per frame: the code and two pieces of clutter that outshine it.
    public static let regionCountMax = 3

    /// The strategies tried after ``ScanStrategy/plain`` failed, in order: the order comes from
    /// the corpus (how many frames each one rescues per millisecond it costs).
    public static let fallbacksDefault: [ScanStrategy] = [
        ScanStrategy(.frame, .halve),
        ScanStrategy(.regions, .invert),
        ScanStrategy(.regions, .none),
        ScanStrategy(.regions, .threshold),
        ScanStrategy(.regions, .median),
        ScanStrategy(.regions, .double),
        ScanStrategy(.regions, .align),
        ScanStrategy(.regions, .stretch),
        ScanStrategy(.regions, .sharpen),
        ScanStrategy(.regions, .box),
        ScanStrategy(.frame, .invert),
        ScanStrategy(.frame, .dense),
    ]

    /// The strategies tried when plain fails.
    public let fallbacks: [ScanStrategy]
    /// The symbologies looked for.
    public let symbologies: Set<Symbology>

    private let sparse: CodeScanner
    private let full: CodeScanner
    private var work = LumaFrame(width: 1, height: 1)
    private var crop = LumaFrame(width: 1, height: 1)
    private var halved = LumaFrame(width: 1, height: 1)
    private var integral: [UInt32] = []
    private var finder = RegionFinder()
    /// The regions of the frame being scanned, found once per frame on first need.
    private var regions: [CodeRegion]?
    /// Measured cost of each strategy in nanoseconds per frame pixel (a moving average), so
    /// the budget check can tell whether the next strategy still fits.
    private var costPerPixel: [ScanStrategy: Double] = [:]

    /// A scanner for `symbologies` trying `fallbacks` after the frame as captured.
    public init(symbologies: Set<Symbology> = [.qrCode, .code128], fallbacks: [ScanStrategy] = RobustScanner.fallbacksDefault) {
        precondition(!fallbacks.contains(.plain), "plain always runs first; it is not a fallback")
        self.symbologies = symbologies
        self.fallbacks = fallbacks
        sparse = CodeScanner(symbologies: symbologies, density: 2)
        full = CodeScanner(symbologies: symbologies, density: 1)
    }

    // MARK: Scanning one frame

    /// Scans `frame` as captured, then with each fallback in order until one finds a code, as
    /// long as the next still fits in `budgetMillis` (nil: try them all, for measurements).
    public func scan(_ frame: LumaFrame, budgetMillis: Int? = RobustScanner.budgetMillisDefault) -> RobustScanResult {
        var cursor = ScanCursor()
        return scan(frame, order: [.plain] + fallbacks, cursor: &cursor, budgetMillis: budgetMillis, live: false)
    }

    /// Scans one frame of a live loop: the frame as captured, then the strategy that last
    /// decoded, then fallbacks from `cursor` on, for as long as `budgetMillis` allows but at
    /// least one a frame. The cursor moves past the fallbacks tried, so consecutive frames share
    /// the work, and a code in view that only a late fallback reads is still read within a few
    /// frames.
    public func scan(_ frame: LumaFrame, cursor: inout ScanCursor, budgetMillis: Int = RobustScanner.budgetMillisDefault) -> RobustScanResult {
        var order: [ScanStrategy] = [.plain]
        if let last = cursor.lastSuccess, last != .plain { order.append(last) }
        let start = fallbacks.isEmpty ? 0 : cursor.next % fallbacks.count
        for offset in 0..<fallbacks.count {
            let strategy = fallbacks[(start + offset) % fallbacks.count]
            if !order.contains(strategy) { order.append(strategy) }
        }
        return scan(frame, order: order, cursor: &cursor, budgetMillis: budgetMillis, live: true)
    }

    private func scan(
        _ frame: LumaFrame, order: [ScanStrategy], cursor: inout ScanCursor, budgetMillis: Int?, live: Bool
    ) -> RobustScanResult {
        if let budgetMillis {
            precondition((1...Self.budgetMillisMax).contains(budgetMillis), "scan budget must be 1…\(Self.budgetMillisMax) ms")
        }
        regions = nil
        defer { regions = nil }
        let clock = ContinuousClock()
        let start = clock.now
        var tried: [ScanStrategy] = []
        var cursorMoved = false
        let pixels = Double(frame.width * frame.height)
        for strategy in order {
            let isCursorStep = live && strategy != .plain && strategy != cursor.lastSuccess
            // The first cursor step of a live frame always runs, so the rotation advances.
            if let budgetMillis, strategy != .plain, !(isCursorStep && !cursorMoved) {
                let estimate = Duration.nanoseconds(Int64((costPerPixel[strategy] ?? 20) * pixels))
                if start.duration(to: clock.now) + estimate > .milliseconds(budgetMillis) { continue }
            }
            let began = clock.now
            let codes = plausible(run(strategy, on: frame))
            learn(strategy, took: began.duration(to: clock.now), pixels: pixels)
            tried.append(strategy)
            if isCursorStep, let index = fallbacks.firstIndex(of: strategy) {
                cursorMoved = true
                cursor.next = index + 1
            }
            if !codes.isEmpty {
                if live { cursor.lastSuccess = strategy }
                return RobustScanResult(codes: codes, strategy: strategy, tried: tried, elapsed: start.duration(to: clock.now))
            }
        }
        return RobustScanResult(codes: [], strategy: nil, tried: tried, elapsed: start.duration(to: clock.now))
    }

    private func learn(_ strategy: ScanStrategy, took: Duration, pixels: Double) {
        let (seconds, attoseconds) = took.components
        let nanoseconds = Double(seconds) * 1e9 + Double(attoseconds) * 1e-9
        let sample = nanoseconds / pixels
        costPerPixel[strategy] = 0.8 * (costPerPixel[strategy] ?? sample) + 0.2 * sample
    }

    /// Drops what cannot be a real code: empty data, which zbar's QR decoder does report for
    /// some filtered frames. zbar's own checks carry the rest (QR's Reed–Solomon codes, Code
    /// 128's check character).
    private func plausible(_ codes: [ScannedCode]) -> [ScannedCode] {
        var seen: [ScannedCode] = []
        for code in codes where !code.data.isEmpty && !seen.contains(code) { seen.append(code) }
        return seen
    }

    // MARK: Strategies

    /// The regions ``RegionFinder`` ranks likeliest in `frame`, searched on the halved frame
    /// (a quarter of the pixels, and halving averages noise away).
    public func codeRegions(in frame: LumaFrame) -> [CodeRegion] {
        regions = nil
        defer { regions = nil }
        return cachedRegions(in: frame)
    }

    private func cachedRegions(in frame: LumaFrame) -> [CodeRegion] {
        if let regions { return regions }
        let found: [CodeRegion]
        if frame.width >= 64 && frame.height >= 64 {
            LumaOps.downscale2(frame, into: &halved)
            found = finder.find(in: halved, scale: 2, countMax: Self.regionCountMax)
        } else {
            found = []
        }
        regions = found
        return found
    }

    /// What zbar reports for `frame` seen through `strategy`, with no plausibility filter; for
    /// measuring strategies one by one.
    public func attempt(_ strategy: ScanStrategy, on frame: LumaFrame) -> [ScannedCode] {
        regions = nil
        defer { regions = nil }
        return run(strategy, on: frame)
    }

    private func run(_ strategy: ScanStrategy, on frame: LumaFrame) -> [ScannedCode] {
        switch strategy.scope {
        case .frame:
            return apply(strategy.filter, to: frame, isCrop: false, angle: 0)
        case .regions:
            var codes: [ScannedCode] = []
            for region in cachedRegions(in: frame) {
                if strategy.filter == .align && region.coherence < 0.5 { continue }
                copy(region.box, of: frame, into: &crop)
                codes = apply(strategy.filter, to: crop, isCrop: true, angle: region.angle)
                if !codes.isEmpty { break }
            }
            return codes
        }
    }

    private func apply(_ filter: ScanStrategy.Filter, to frame: LumaFrame, isCrop: Bool, angle: Double) -> [ScannedCode] {
        let scanner = isCrop ? full : sparse
        switch filter {
        case .none:
            return scanner.scan(frame)
        case .dense:
            return full.scan(frame)
        case .invert:
            LumaOps.invert(frame, into: &work)
        case .stretch:
            LumaOps.stretchContrast(frame, into: &work)
        case .threshold:
            let radius = max(8, min(frame.width, frame.height) / (isCrop ? 8 : 24))
            LumaOps.adaptiveThreshold(frame, into: &work, radius: radius, percent: 10, integral: &integral)
        case .median:
            LumaOps.median3(frame, into: &work)
        case .box:
            LumaOps.boxBlur3(frame, into: &work)
        case .halve:
            guard frame.width >= 4, frame.height >= 4 else { return [] }
            LumaOps.downscale2(frame, into: &work)
            return full.scan(work)
        case .double:
            LumaOps.upscale(frame, into: &work, factor: 2)
            return sparse.scan(work)
        case .sharpen:
            LumaOps.sharpen(frame, into: &work, amount: 2)
        case .align:
            LumaOps.rotate(frame, into: &work, degrees: angle)
        }
        return scanner.scan(work)
    }

    /// Copies `box` of `frame` into `destination`.
    private func copy(_ box: PixelBox, of frame: LumaFrame, into destination: inout LumaFrame) {
        LumaOps.prepare(&destination, width: box.width, height: box.height)
        let sourceWidth = frame.width
        frame.pixels.withUnsafeBufferPointer { src in
            destination.pixels.withUnsafeMutableBufferPointer { dst in
                for row in 0..<box.height {
                    let from = (box.y + row) * sourceWidth + box.x
                    for column in 0..<box.width { dst[row * box.width + column] = src[from + column] }
                }
            }
        }
    }
}

// Owns zbar scanners and scratch buffers that must not be shared between tasks.
@available(*, unavailable)
extension RobustScanner: Sendable {}
