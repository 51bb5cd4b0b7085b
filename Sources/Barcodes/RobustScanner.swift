import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One way of looking at a frame before zbar scans it: a filter, applied to the whole frame or
/// to each likely code region (``RegionFinder``). ``RobustScanner`` tries several in turn.
public struct ScanStrategy: Sendable, Hashable, CustomStringConvertible {
    /// Where the filter applies.
    public enum Scope: String, Sendable, Hashable, CaseIterable {
        /// The whole frame.
        case frame
        /// The regions ``RegionFinder`` ranks likeliest, each cropped with its quiet zone: a fifth
        /// to a third of the pixels, so costly filters fit the budget. The plain looks (`none`,
        /// `dense`, `halve`) take up to three regions, the corrective filters the best one.
        case regions
    }

    /// What is done to the pixels before zbar scans them.
    public enum Filter: String, Sendable, Hashable, CaseIterable {
        /// Nothing; zbar on every second line (density 2).
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
        /// A 3x3 median, then the wide unsharp mask of `sharpen`: heavy noise, whose median
        /// still blurs the modules.
        case denoise
        /// A 3x3 box average: Gaussian noise and a screen's fine pixel grid.
        case box
        /// Halved by 2x2 averaging: large modules, noise and moiré averaged away, a quarter of the cost.
        case halve
        /// Doubled (bilinear): modules of one or two pixels.
        case double
        /// Unsharp-masked against a wide blur (sigma about 2 pixels), then binarised against the
        /// local mean: defocus and motion blur of up to half a module.
        case sharpen
        /// Turned so the region's edges run vertically: Code 128 at angles where no row or column
        /// of zbar's crosses all its bars. Regions only, and only when their edges agree in direction.
        case align
        /// Doubled, turned like `align`, then each band of rows averaged into one row: a
        /// barcode's profile with noise, moiré and blur averaged out. Regions only, for barcodes.
        case profile
        /// Turned so the barcode's long axis runs horizontally (``LumaOps/barcodeAxis(_:)``) and sampled as a band along it,
        /// then scanned on every line: Code 128 seen in perspective, whose bars lean and converge
        /// so that turning by their direction (`align`) leaves no row crossing the whole code.
        case axis
        /// Warped so that the code's outline (``LumaOps/codeQuad(_:)``) becomes a square: a QR
        /// code tilted 40 degrees or more, a keystone whose grid zbar no longer fits. Regions only,
        /// and only those whose edges run both ways (not a barcode's).
        case rectify

        /// Whether the filter works on a region only (its direction, its axis or its outline).
        var needsRegion: Bool { self == .align || self == .profile || self == .axis || self == .rectify }
    }

    /// Where the filter applies.
    public let scope: Scope
    /// What is done to the pixels.
    public let filter: Filter

    /// A strategy; the filters that work on a region only (`align`, `profile`, `axis`,
    /// `rectify`) have no frame form.
    public init(_ scope: Scope, _ filter: Filter) {
        precondition(!(scope == .frame && filter.needsRegion), "\(filter) works on a region only")
        self.scope = scope
        self.filter = filter
    }

    /// The frame as captured, density 2: what a plain zbar scan does, at half its cost.
    public static let plain = ScanStrategy(.frame, .none)

    /// Every strategy there is, for measuring them one by one.
    public static let all: [ScanStrategy] = Scope.allCases.flatMap { scope in
        Filter.allCases.compactMap { filter in scope == .frame && filter.needsRegion ? nil : ScanStrategy(scope, filter) }
    }

    /// `halve` for a frame strategy, `region-threshold` for a region one.
    public var description: String { scope == .frame ? filter.rawValue : "region-\(filter.rawValue)" }

    /// The strategy a ``description`` names, or nil.
    public init?(description: String) {
        guard let strategy = Self.all.first(where: { $0.description == description }) else { return nil }
        self = strategy
    }
}

/// What ``RobustScanner`` found in one frame, and how.
public struct RobustScanResult: Sendable, Equatable {
    /// The codes found, deduplicated, in the order found; empty when none was.
    public let codes: [ScannedCode]
    /// The strategy that found them, or nil when none did.
    public let strategy: ScanStrategy?
    /// The strategies run on this frame, in order (the last is `strategy` when one decoded).
    public let tried: [ScanStrategy]
    /// Wall time spent on the frame.
    public let elapsed: Duration
}

/// Where a live scan loop is in the strategy list, kept by the caller from frame to frame so
/// that the costly strategies are spread over consecutive frames instead of all run on one.
public struct ScanCursor: Sendable, Equatable {
    /// The index in ``RobustScanner/strategies`` of the next fallback to try.
    public internal(set) var next = 1
    /// The last strategy that decoded, tried right after the first one on the next frames: a
    /// code held in view usually needs the same help from one frame to the next.
    public internal(set) var lastSuccess: ScanStrategy?
    /// Frames in a row on which `lastSuccess` found nothing; past
    /// ``RobustScanner/stickyMissCountMax`` it is forgotten (the code has left the view).
    public internal(set) var lastSuccessMisses = 0

    public init() {}
}

/// A zbar scanner that does not give up after one look: it tries a list of strategies (filters
/// of the frame or of its likely code regions), the cheap and often useful first, until one
/// decodes or the time budget runs out, and reports which one decoded. What it reports has
/// passed a plausibility check (a minimum length; a barcode read alike on two scan lines and
/// not contradicted), so that a till never acts on a misread.
///
/// On the seeded corpus (`qrpos bench scan --corpus-report`), within the default 30 ms budget
/// on a 2-core machine, it reads 97.5% of coded frames of the default seed where zbar alone
/// reads 73%; on other seeds 96.4% (5), 96.2% (7), 95.5% (99), 97.3% (42), 95.5% (11), and on
/// seeds never used in tuning 95.0% (2027) and 95.4% (314), the order having been tuned on the
/// default seed and seed 5; no misread and nothing read from
/// frames without a code on any. One lane instead of two reads about 2 points less.
/// `tools/strategy-order.py` replays an order against measured per-frame results
/// (`--strategy-report --json`).
///
/// Image operations run on buffers the scanner keeps, so once warm a scan allocates little
/// beyond its result. Like ``CodeScanner`` it is not `Sendable`: make one per thread or task.
public final class RobustScanner {
    /// The default budget for a frame scanned on its own. A 30 fps camera delivers a frame every
    /// 33 ms; this is as much as one frame can take without the decoder falling behind.
    public static let budgetMillisDefault = 30
    /// The default budget per frame of a live loop: half a frame interval at 30 fps. The
    /// strategies left over run on the next frames, so a smaller budget costs a hard code a few
    /// frames, not its read, and leaves a core mostly free when nothing is in view.
    public static let liveBudgetMillisDefault = 15
    /// The largest side of a rectified code: a 41-module QR code at about 9 pixels a module.
    public static let rectifySideMax = 360
    /// Regions larger than this have their barcode axis measured at half size.
    public static let axisHalvingPixelsMin = 160_000
    /// Two lanes where the machine has two cores or more, else one.
    public static let laneCountDefault = min(2, max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    /// The largest budget accepted: a second per frame is a mistake, not a budget.
    public static let budgetMillisMax = 1_000
    /// Regions searched per frame: the code and two pieces of clutter that outshine it.
    public static let regionCountMax = 3
    /// How much a region's edges must agree in direction for the barcode-only filters, which
    /// turn it by that direction: a barcode measures 0.45–0.9, a QR code below 0.3.
    public static let coherenceMin = 0.35
    /// Scan lines that must read a barcode alike before it counts: one line alone can misread.
    public static let barcodeLineCountMin = 2
    /// The lower bar for ``ScanStrategy/Filter/profile``: noise, moiré and JPEG blocks at
    /// 640x480 pull a small barcode's measured coherence down to 0.2, and a wasted profile of a
    /// QR code costs little.
    public static let profileCoherenceMin = 0.2
    /// The shortest payload accepted. Payment codes are 18 digits or more and tokens longer;
    /// what zbar reports shorter than this from a filtered frame is noise.
    public static let payloadByteCountMin = 4
    /// Live frames on which the last successful strategy may fail before it loses its place
    /// right after the first strategy.
    public static let stickyMissCountMax = 15

    /// The default order, from the seeded corpus (`qrpos bench scan --strategy-report --json`
    /// on the default seed and seed 5, both sizes): the order that reads the most coded frames
    /// within the default budget when its even places run in one lane and its odd places in the
    /// other, found by local search from a greedy start (at each step the strategy reading the
    /// most frames the earlier ones missed per millisecond it costs), with the halved regions
    /// and the barcode axis kept first (the axis costs nothing on a region that is no barcode,
    /// and behind a costly filter on a large region it misses the budget) and a penalty on the
    /// median time. The halved regions alone read 54% of coded frames at a
    /// quarter of the cost of a density-2 scan of the whole frame, so the median frame is read
    /// in a few milliseconds. The whole frame as captured comes late, as the net for a code the
    /// region finder ranked below clutter. The rectified outline comes eighth (fourth in the
    /// second lane): it alone reads QR codes tilted 42–49 degrees, but few frames need it.
    public static let strategiesDefault: [ScanStrategy] = [
        ScanStrategy(.regions, .halve),
        ScanStrategy(.regions, .axis),
        ScanStrategy(.regions, .threshold),
        ScanStrategy(.regions, .invert),
        ScanStrategy(.regions, .denoise),
        ScanStrategy(.regions, .box),
        ScanStrategy(.regions, .profile),
        ScanStrategy(.regions, .rectify),
        ScanStrategy(.regions, .double),
        ScanStrategy(.regions, .dense),
        ScanStrategy(.frame, .threshold),
        ScanStrategy(.regions, .sharpen),
        ScanStrategy(.regions, .align),
        ScanStrategy(.frame, .dense),
        .plain,
        ScanStrategy(.regions, .median),
        ScanStrategy(.regions, .none),
    ]

    /// The strategies in the order tried; the first runs on every frame whatever the budget.
    public let strategies: [ScanStrategy]
    /// The symbologies looked for.
    public let symbologies: Set<Symbology>

    private let sparse: CodeScanner
    private let full: CodeScanner
    /// Every line, Code 128 only, for the barcode-only filters (`align`, `profile`):
    /// zbar's QR finder spends most of a scan's time on a barcode's bars, which look to it like
    /// rows of finder patterns. Nil when Code 128 is not looked for.
    private let barcodeFull: CodeScanner?
    /// The second lane's scanner (its own zbar scanners and buffers), when there are two lanes.
    private let partner: RobustScanner?
    /// The strategies each lane runs: those at even places in the order, and those at odd ones.
    private let laneOrders: [[ScanStrategy]]
    private var work = LumaFrame(width: 1, height: 1)
    private var crop = LumaFrame(width: 1, height: 1)
    private var halved = LumaFrame(width: 1, height: 1)
    private var turned = LumaFrame(width: 1, height: 1)
    private var spare = LumaFrame(width: 1, height: 1)
    private var integral: [UInt32] = []
    private var scratch: [UInt8] = []
    private var finder = RegionFinder()
    /// The regions of the frame being scanned, found once per frame on first need.
    private var regions: [CodeRegion]?
    /// Measured cost of each strategy in nanoseconds per pixel of work (``workPixels``), a
    /// moving average, so the budget check can tell whether the next strategy still fits. Seeded
    /// with rough release-build figures, replaced by this machine's own as scans run.
    private var costPerPixel: [ScanStrategy: Double] = [
        ScanStrategy(.regions, .halve): 12, ScanStrategy(.regions, .profile): 25, ScanStrategy(.regions, .axis): 8, ScanStrategy(.regions, .rectify): 15, ScanStrategy(.regions, .none): 20,
        ScanStrategy(.regions, .invert): 20, ScanStrategy(.regions, .threshold): 20, ScanStrategy(.regions, .dense): 40,
        ScanStrategy(.regions, .align): 30, ScanStrategy(.regions, .median): 28, ScanStrategy(.regions, .denoise): 45, ScanStrategy(.regions, .double): 70,
        ScanStrategy(.regions, .sharpen): 35, ScanStrategy(.frame, .threshold): 20, ScanStrategy(.regions, .box): 20,
        .plain: 22, ScanStrategy(.frame, .dense): 43,
    ]

    /// A scanner for `symbologies` trying `strategies` in order, a budgeted scan of a frame on
    /// its own in `laneCount` lanes (1 or 2; see ``scan(_:budgetMillis:)``).
    public init(symbologies: Set<Symbology> = [.qrCode, .code128], strategies: [ScanStrategy] = RobustScanner.strategiesDefault,
                laneCount: Int = RobustScanner.laneCountDefault) {
        precondition(!strategies.isEmpty, "a scanner needs at least one strategy")
        precondition(Set(strategies).count == strategies.count, "each strategy once")
        precondition((1...2).contains(laneCount), "a scanner runs one or two lanes")
        self.symbologies = symbologies
        self.strategies = strategies
        sparse = CodeScanner(symbologies: symbologies, density: 2)
        full = CodeScanner(symbologies: symbologies, density: 1)
        barcodeFull = symbologies.contains(.code128) ? CodeScanner(symbologies: [.code128], density: 1) : nil
        partner = laneCount == 2 && strategies.count > 1 ? RobustScanner(symbologies: symbologies, strategies: strategies, laneCount: 1) : nil
        laneOrders = [stride(from: 0, to: strategies.count, by: 2).map { strategies[$0] },
                      stride(from: 1, to: strategies.count, by: 2).map { strategies[$0] }]
    }

    // MARK: Scanning

    /// Tries the strategies in order until one finds a code, skipping those that no longer fit
    /// in `budgetMillis` by their measured cost (nil: try them all, one after the other, as the
    /// tests do, so results do not depend on the machine's speed).
    ///
    /// With a budget and two lanes, the strategies at even places in the order run on this
    /// thread and those at odd places beside it on a second core, both within the budget; the
    /// first lane to read stops the other at its next strategy, and the scan returns when both
    /// have stopped (so no work outlives the call). A hard frame then gets about twice the
    /// strategies in the same wall time: a frame's budget is the time until the next frame, and
    /// a terminal's second core is otherwise idle while it waits for a code.
    public func scan(_ frame: LumaFrame, budgetMillis: Int? = RobustScanner.budgetMillisDefault) -> RobustScanResult {
        guard let partner, let budgetMillis else {
            return scan(frame, order: strategies, rotationStart: nil, budgetMillis: budgetMillis).result
        }
        let start = ContinuousClock.now
        // Regions once, for both lanes: every region strategy needs them.
        let found = codeRegions(in: frame)
        let lanes = laneOrders
        let stop = StopFlag()
        let results = Mutex<[RobustScanResult?]>([nil, nil])
        let scanners = LaneScanners(scanners: [self, partner])
        DispatchQueue.concurrentPerform(iterations: 2) { lane in
            let scanner = scanners.scanners[lane]
            let result = scanner.scan(frame, order: lanes[lane], rotationStart: nil, budgetMillis: budgetMillis,
                                      start: start, regions: found, stop: stop).result
            if !result.codes.isEmpty { stop.raise() }
            results.withLock { $0[lane] = result }
        }
        let (first, second) = results.withLock { ($0[0]!, $0[1]!) }
        let tried = strategies.filter { first.tried.contains($0) || second.tried.contains($0) }
        let winner = !first.codes.isEmpty ? first : second
        return RobustScanResult(codes: winner.codes, strategy: winner.strategy, tried: tried, elapsed: start.duration(to: .now))
    }

    /// Scans one frame of a live loop: the first strategy and the one that decoded last, then
    /// the others in turn from `cursor`, as many as `budgetMillis` allows but at least one. The
    /// cursor stops at the first that no longer fits, which runs first on the next frame, so
    /// every strategy gets its turn: a code in view that only a late strategy reads is read
    /// within a few frames, and each frame stays within its budget (plus one strategy).
    public func scan(_ frame: LumaFrame, cursor: inout ScanCursor, budgetMillis: Int = RobustScanner.liveBudgetMillisDefault) -> RobustScanResult {
        var order = [strategies[0]]
        if let last = cursor.lastSuccess, last != strategies[0] { order.append(last) }
        let rotationStart = order.count
        let rotation = Array(strategies.dropFirst())
        if !rotation.isEmpty {
            let start = max(0, cursor.next - 1) % rotation.count
            for offset in 0..<rotation.count {
                let strategy = rotation[(start + offset) % rotation.count]
                if !order.contains(strategy) { order.append(strategy) }
            }
        }
        let (result, visited) = scan(frame, order: order, rotationStart: rotationStart, budgetMillis: budgetMillis)
        if let visited, let index = strategies.firstIndex(of: visited) {
            cursor.next = index + 1 < strategies.count ? index + 1 : 1
        }
        if let decoder = result.strategy {
            cursor.lastSuccess = decoder
            cursor.lastSuccessMisses = 0
        } else if cursor.lastSuccess != nil {
            cursor.lastSuccessMisses += 1
            if cursor.lastSuccessMisses > Self.stickyMissCountMax {
                cursor.lastSuccess = nil
                cursor.lastSuccessMisses = 0
            }
        }
        return result
    }

    /// Runs `order` until a strategy decodes. The strategies before `rotationStart` (or the first
    /// alone, without one) always run. Others run when their estimated cost still fits the
    /// budget; from `rotationStart` on (a live loop's turn) the first always runs and the first
    /// that does not fit ends the frame. A strategy with
    /// nothing to work on (no region of the kind it needs) is passed over at no cost. Returns the
    /// last strategy of the turn that was run or passed over, for the cursor.
    private func scan(
        _ frame: LumaFrame, order: [ScanStrategy], rotationStart: Int?, budgetMillis: Int?,
        start: ContinuousClock.Instant = .now, regions found: [CodeRegion]? = nil, stop: StopFlag? = nil
    ) -> (result: RobustScanResult, visited: ScanStrategy?) {
        if let budgetMillis {
            precondition((1...Self.budgetMillisMax).contains(budgetMillis), "scan budget must be 1…\(Self.budgetMillisMax) ms")
        }
        regions = found
        defer { regions = nil }
        let clock = ContinuousClock()
        var tried: [ScanStrategy] = []
        var visited: ScanStrategy?
        var turnStarted = false
        for (position, strategy) in order.enumerated() {
            if stop?.isRaised == true { break }
            let inTurn = rotationStart.map { position >= $0 } ?? false
            let pixels = workPixels(strategy, frame)
            if pixels == 0 {
                if inTurn { visited = strategy }
                continue
            }
            // Forced: the first strategy, in a live loop also the one that decoded last (while
            // a code stays in view it reads it at once) and the first of the turn.
            let mustRun = position == 0 || rotationStart.map { position < $0 } ?? false || inTurn && !turnStarted
            if let budgetMillis, !mustRun {
                let estimate = Duration.nanoseconds(Int64((costPerPixel[strategy] ?? 20) * Double(pixels)))
                if start.duration(to: clock.now) + estimate > .milliseconds(budgetMillis) {
                    if inTurn { break }
                    continue
                }
            }
            if inTurn {
                turnStarted = true
                visited = strategy
            }
            let began = clock.now
            let codes = plausible(run(strategy, on: frame))
            learn(strategy, took: began.duration(to: clock.now), pixels: Double(pixels))
            tried.append(strategy)
            if !codes.isEmpty {
                return (RobustScanResult(codes: codes, strategy: strategy, tried: tried, elapsed: start.duration(to: clock.now)), visited)
            }
        }
        return (RobustScanResult(codes: [], strategy: nil, tried: tried, elapsed: start.duration(to: clock.now)), visited)
    }

    /// The pixels `strategy` works on in `frame`: all of them, or those of the regions it
    /// filters (finding the regions if no strategy has yet). Costs are learnt per pixel of work,
    /// since a region strategy costs little on a frame whose code is small and much on one
    /// with large clutter.
    private func workPixels(_ strategy: ScanStrategy, _ frame: LumaFrame) -> Int {
        switch strategy.scope {
        case .frame:
            return frame.width * frame.height
        case .regions:
            return regions(for: strategy.filter, in: frame).reduce(0) { $0 + $1.box.area }
        }
    }

    /// The regions `filter` runs on. The plain looks (`none`, `dense`, `halve`) take every
    /// region; the corrective filters only the best one (the best coherent one for the barcode
    /// filters), which is the code in all but a few corpus frames of small codes in clutter:
    /// running them on clutter too costs up to three times as much for almost nothing. `rectify`
    /// takes the best region whose edges do not agree in direction (a QR code, not a barcode).
    private func regions(for filter: ScanStrategy.Filter, in frame: LumaFrame) -> [CodeRegion] {
        let all = cachedRegions(in: frame)
        switch filter {
        case .none, .dense, .halve:
            return all
        case .align:
            return all.first { $0.coherence >= Self.coherenceMin }.map { [$0] } ?? []
        case .profile, .axis:
            return all.first { $0.coherence >= Self.profileCoherenceMin }.map { [$0] } ?? []
        case .rectify:
            return all.first { $0.coherence < Self.coherenceMin }.map { [$0] } ?? []
        case .invert, .stretch, .threshold, .median, .denoise, .box, .double, .sharpen:
            return Array(all.prefix(1))
        }
    }

    /// ``LumaOps/barcodeAxis(_:)`` of `crop`, measured on it halved when it is large: two
    /// passes over a 1280x720 region cost more than zbar reading the band they find.
    private func barcodeAxis(of crop: LumaFrame) -> LumaOps.BarcodeAxis? {
        guard crop.width * crop.height > Self.axisHalvingPixelsMin else { return LumaOps.barcodeAxis(crop) }
        LumaOps.downscale2(crop, into: &turned)
        guard let half = LumaOps.barcodeAxis(turned) else { return nil }
        return LumaOps.BarcodeAxis(angle: half.angle, centreX: 2 * half.centreX + 0.5, centreY: 2 * half.centreY + 0.5,
                                   length: 2 * half.length, thickness: 2 * half.thickness)
    }

    private func learn(_ strategy: ScanStrategy, took: Duration, pixels: Double) {
        let (seconds, attoseconds) = took.components
        let sample = (Double(seconds) * 1e9 + Double(attoseconds) * 1e-9) / pixels
        costPerPixel[strategy] = 0.8 * (costPerPixel[strategy] ?? sample) + 0.2 * sample
    }

    /// Keeps what can be a payment code and drops what may be a misread, so a till never acts
    /// on a wrong payload:
    ///
    /// - payloads shorter than ``payloadByteCountMin`` (zbar reports empty QR payloads from some
    ///   sharpened frames, and one-character Code 128 from the edges of a turned crop);
    /// - Code 128 that fewer than ``barcodeLineCountMin`` scan lines read alike: on the corpus,
    ///   single lines of blurred, box-averaged or JPEG frames read 18-digit codes with one digit
    ///   pair wrong and a valid check character, and eight-digit fragments of them;
    /// - every Code 128 when several lines agree on different payloads: a till sees one barcode
    ///   at a time, so two confirmed reads of one frame are one barcode read twice, once wrongly.
    ///
    /// QR codes need no such vote: their Reed–Solomon check rejects what it cannot correct, and
    /// the corpus shows no QR misread.
    private func plausible(_ decodes: [CodeScanner.Decode]) -> [ScannedCode] {
        var kept: [ScannedCode] = []
        var barcodes: [CodeScanner.Decode] = []
        for decode in decodes where decode.code.data.count >= Self.payloadByteCountMin {
            switch decode.code.symbology {
            case .qrCode:
                if !kept.contains(decode.code) { kept.append(decode.code) }
            case .code128:
                if decode.quality >= Self.barcodeLineCountMin { barcodes.append(decode) }
            }
        }
        if let first = barcodes.first, barcodes.allSatisfy({ $0.code == first.code }) { kept.append(first.code) }
        return kept
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
        var found: [CodeRegion] = []
        if frame.width >= 64 && frame.height >= 64 {
            LumaOps.downscale2(frame, into: &halved)
            found = finder.find(in: halved, scale: 2, countMax: Self.regionCountMax)
        }
        regions = found
        return found
    }

    /// What `strategy` alone reads in `frame`, through the same plausibility filter as a scan:
    /// for measuring strategies one by one.
    public func attempt(_ strategy: ScanStrategy, on frame: LumaFrame) -> [ScannedCode] {
        regions = nil
        defer { regions = nil }
        return plausible(run(strategy, on: frame))
    }

    private func run(_ strategy: ScanStrategy, on frame: LumaFrame) -> [CodeScanner.Decode] {
        switch strategy.scope {
        case .frame:
            return apply(strategy.filter, to: frame, angle: 0, isCrop: false)
        case .regions:
            for region in regions(for: strategy.filter, in: frame) {
                LumaOps.crop(region.box, of: frame, into: &crop)
                // The region's own direction comes from the halved frame, where a small
                // barcode's bars have blurred away and a bezel's long edges dominate; the crop at
                // full size gives the bars' direction.
                let angle: Double
                switch strategy.filter {
                case .axis:
                    guard let axis = barcodeAxis(of: crop) else { continue }
                    // The band the code lies in, turned level: its whole length and a fifth of
                    // it again each side for the quiet zones, the middle of its height.
                    let length = min(Int(axis.length * 1.4) + 16, 2 * (crop.width + crop.height))
                    let height = max(16, min(Int(axis.thickness * 0.6), length / 2))
                    LumaOps.sampleRotated(crop, into: &work, degrees: axis.angle, centreX: axis.centreX, centreY: axis.centreY,
                                          width: length, height: height)
                    let codes = full.decode(work)
                    if !codes.isEmpty { return codes }
                    continue
                case .rectify:
                    // The outline is found on the crop halved (a quarter of the work, noise
                    // averaged), the warp samples the crop itself.
                    guard crop.width >= 32, crop.height >= 32 else { continue }
                    LumaOps.downscale2(crop, into: &turned)
                    guard let half = LumaOps.codeQuad(turned) else { continue }
                    let corners = half.map { PixelPoint(x: 2 * $0.x + 1, y: 2 * $0.y + 1) }
                    let side = (0..<4).map { corners[$0].distance(to: corners[($0 + 1) % 4]) }.max()!
                    LumaOps.warpQuad(crop, corners: corners, into: &work, side: min(Int(side), Self.rectifySideMax))
                    let codes = sparse.decode(work)
                    if !codes.isEmpty { return codes }
                    continue
                case .align, .profile:
                    angle = LumaOps.dominantEdgeAngle(crop).angle
                default:
                    angle = region.angle
                }
                let codes = apply(strategy.filter, to: crop, angle: angle, isCrop: true)
                if !codes.isEmpty { return codes }
            }
            return []
        }
    }

    private func apply(_ filter: ScanStrategy.Filter, to frame: LumaFrame, angle: Double, isCrop: Bool) -> [CodeScanner.Decode] {
        switch filter {
        case .none:
            return sparse.decode(frame)
        case .dense:
            return full.decode(frame)
        case .invert:
            LumaOps.invert(frame, into: &work)
        case .stretch:
            LumaOps.stretchContrast(frame, into: &work)
        case .threshold:
            // A window a quarter of a crop (the code fills most of it), a twelfth of a frame:
            // wider than a QR finder pattern's core at any module size the corpus shows.
            let radius = max(8, min(frame.width, frame.height) / (isCrop ? 8 : 24))
            LumaOps.adaptiveThreshold(frame, into: &work, radius: radius, percent: 10, integral: &integral)
        case .median:
            LumaOps.median3(frame, into: &work)
        case .box:
            LumaOps.boxBlur3(frame, into: &work)
        case .halve:
            guard frame.width >= 4, frame.height >= 4 else { return [] }
            LumaOps.downscale2(frame, into: &work)
            return full.decode(work)
        case .double:
            LumaOps.upscale(frame, into: &work, factor: 2)
        case .sharpen:
            LumaOps.unsharp(frame, into: &turned, radius: 2, amount: 2, blurred: &work, scratch: &scratch)
            let radius = max(8, min(frame.width, frame.height) / (isCrop ? 8 : 24))
            LumaOps.adaptiveThreshold(turned, into: &work, radius: radius, percent: 5, integral: &integral)
            return full.decode(work)
        case .denoise:
            LumaOps.median3(frame, into: &turned)
            LumaOps.unsharp(turned, into: &work, radius: 2, amount: 2, blurred: &spare, scratch: &scratch)
            return full.decode(work)
        case .align:
            guard let barcodeFull else { return [] }
            LumaOps.rotate(frame, into: &work, degrees: angle)
            return barcodeFull.decode(work)
        case .axis, .rectify:
            preconditionFailure("\(filter) samples the region in run(_:on:)")
        case .profile:
            guard let barcodeFull else { return [] }
            // Doubled first: a barcode of 1.6-pixel modules turned by a few degrees loses its
            // narrow bars to the rotation's interpolation; at double size they survive.
            LumaOps.upscale(frame, into: &spare, factor: 2)
            LumaOps.rotate(spare, into: &turned, degrees: angle)
            LumaOps.bandProfiles(turned, into: &work, bandCount: 7, rowsPerBand: 1)
            return barcodeFull.decode(work)
        }
        return sparse.decode(work)
    }
}

/// The two lanes' scanners, handed to the lanes' threads. Unchecked, and safe because lane i
/// touches only `scanners[i]`, and `concurrentPerform` returns only once both lanes are done:
/// no scanner is ever used by two threads at once.
private struct LaneScanners: @unchecked Sendable {
    let scanners: [RobustScanner]
}

/// Raised by the lane that reads first; the other stops before its next strategy.
private final class StopFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .releasing) }
    var isRaised: Bool { raised.load(ordering: .acquiring) }
}

// Owns zbar scanners and scratch buffers that must not be shared between tasks.
@available(*, unavailable)
extension RobustScanner: Sendable {}
