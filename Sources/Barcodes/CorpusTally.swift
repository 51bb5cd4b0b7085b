/// How one decoder did on one corpus frame.
public enum CorpusOutcome: String, Sendable, Hashable, CaseIterable {
    /// A coded frame whose code was reported, and nothing else.
    case read
    /// A coded frame where nothing was reported.
    case missed
    /// A coded frame where something other than its code was reported (wrong bytes, wrong
    /// symbology, or an extra code): the failure a till must never have.
    case misread
    /// A frame without a code where nothing was reported.
    case quiet
    /// A frame without a code where something was reported.
    case phantom

    /// Judges `decoded` against what `frame` holds.
    public init(frame: ScanCorpus.Frame, decoded: [ScannedCode]) {
        guard let expected = frame.expected else {
            self = decoded.isEmpty ? .quiet : .phantom
            return
        }
        if decoded.contains(where: { $0 != expected }) {
            self = .misread
        } else {
            self = decoded.isEmpty ? .missed : .read
        }
    }
}

/// Outcome counts per corpus category, for the table that compares decoders.
public struct CorpusTally: Sendable, Equatable {
    /// The counts for one category.
    public struct Counts: Sendable, Equatable {
        public var frames = 0
        public var read = 0
        public var missed = 0
        public var misread = 0
        public var phantom = 0

        /// No frames yet.
        public init() {}

        /// Adds another's counts.
        public mutating func add(_ other: Counts) {
            frames += other.frames
            read += other.read
            missed += other.missed
            misread += other.misread
            phantom += other.phantom
        }
    }

    /// Counts by category; categories with no frames are absent.
    public private(set) var categories: [ScanCorpus.Category: Counts] = [:]

    public init() {}

    /// Adds one frame's outcome.
    public mutating func record(_ category: ScanCorpus.Category, _ outcome: CorpusOutcome) {
        var counts = categories[category, default: Counts()]
        counts.frames += 1
        switch outcome {
        case .read: counts.read += 1
        case .missed: counts.missed += 1
        case .misread: counts.misread += 1
        case .phantom: counts.phantom += 1
        case .quiet: break
        }
        categories[category] = counts
    }

    /// Judges and adds one frame.
    @discardableResult
    public mutating func record(_ frame: ScanCorpus.Frame, decoded: [ScannedCode]) -> CorpusOutcome {
        let outcome = CorpusOutcome(frame: frame, decoded: decoded)
        record(frame.category, outcome)
        return outcome
    }

    /// Totals over the categories that hold a code.
    public var coded: Counts { total(where: \.hasCode) }
    /// Totals over the categories without a code.
    public var noCode: Counts { total { !$0.hasCode } }

    /// Adds another tally's counts, as from a corpus split over several tasks.
    public mutating func merge(_ other: CorpusTally) {
        for (category, counts) in other.categories { categories[category, default: Counts()].add(counts) }
    }

    private func total(where include: (ScanCorpus.Category) -> Bool) -> Counts {
        var sum = Counts()
        for (category, counts) in categories where include(category) { sum.add(counts) }
        return sum
    }

    /// Coded frames read over coded frames, 0…1.
    public var readRate: Double { coded.frames == 0 ? 0 : Double(coded.read) / Double(coded.frames) }
}
