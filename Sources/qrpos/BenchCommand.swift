import ArgumentParser
import Barcodes
import Foundation
import Ledger
import LedgerPostgres
import LedgerSQLite
import Payments
import Receipts
import Terminal

/// `qrpos bench NAME`: measurements, one JSON object per line with `--json`.
///
/// Every benchmark prints `{"bench": NAME, "case": …, "n": …, "median_ms": …, "p99_ms": …,
/// "per_second": …}` per measurement, plus keys of its own. Build with `-c release` first:
/// debug builds are several times slower and say nothing about the terminal.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: one JSON object per measurement.",
        discussion: """
            scan: the live loop at 30 fps, then zbar alone (CodeScanner, density 1) against \
            RobustScanner on a seeded corpus (ScanCorpus) at 640x480 and 1280x720: nominal, hard \
            and no-code frames, and all of them. --corpus-report prints decode rates per category \
            instead, --strategy-report what each strategy alone reads, --write-corpus the frames.

            ledger: payments per second on the SQLite ledger in a temporary folder (WAL, \
            synchronous=FULL), and with --postgres URL on PostgreSQL too, one payment per \
            transaction and in batches, from 1 and 8 clients, spread over many merchants and all \
            into one; the ledger is audited after each case.
            sync: an offline approval on the terminal (token checked, limits against the journal, \
            the approval on disk in the journal), --payments of them; those approvals uploaded to \
            `qrpos ledger serve` (a child process) in signed batches of 500; then online \
            authorization on loopback, the round trip alone and the whole sale (journal, request, \
            answer, receipt).
            receipt: a signed receipt with items rendered to ESC/POS (80 mm, native QR; 58 mm, the QR \
            drawn as an image) and to its HTML page (the QR as SVG), --payments times each.
            """
    )

    /// The benchmarks there are; each is a case here and a function below.
    enum Name: String, CaseIterable, ExpressibleByArgument {
        case scan, ledger, sync, receipt
    }

    @Argument(help: ArgumentHelp("What to measure: \(Name.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "name"))
    var name: String

    @Flag(help: "Print JSON lines (the timings always are; with --strategy-report, one line a frame as well).")
    var json = false

    @Flag(name: .customLong("corpus-report"), help: "scan: print decode rates per corpus category, zbar alone next to RobustScanner.")
    var corpusReport = false

    @Flag(name: .customLong("strategy-report"), help: "scan: print how many frames of each category each strategy alone reads.")
    var strategyReport = false

    @Option(help: "Corpus seed.")
    var seed: UInt64 = 20_261_127

    @Option(help: "Frames per size (a multiple of the 17 categories keeps them balanced).")
    var count: Int = 340

    @Option(name: .customLong("budget-ms"), help: "RobustScanner's time budget per frame, in milliseconds.")
    var budgetMillis: Int = RobustScanner.budgetMillisDefault

    @Flag(name: .customLong("no-budget"), help: "scan: let RobustScanner try every strategy on every frame (decode rates without the time limit).")
    var noBudget = false

    @Flag(help: "scan --corpus-report: list every frame RobustScanner missed.")
    var verbose = false

    @Option(name: .customLong("loop-seconds"), help: "scan: how long each run of the live scan loop lasts, at 30 frames a second.")
    var loopSeconds: Int = 10

    @Option(help: "ledger: payments measured one per transaction, per case; sync: offline approvals measured.")
    var payments: Int = 5_000

    @Option(name: .customLong("batch-size"), help: "ledger: payments per batch (one transaction).")
    var batchSize: Int = 1_000

    @Option(help: "ledger: batches measured per case.")
    var batches: Int = 100

    @Option(help: ArgumentHelp("ledger: only these cases, comma-separated, e.g. single-hot/8,batch-spread/1 (default: all).", valueName: "list"))
    var cases: String?

    @Option(help: ArgumentHelp("ledger: also measure the PostgreSQL ledger at this URL (each case in a fresh schema, dropped at the end), e.g. $(services/postgres.sh url).", valueName: "url"))
    var postgres: String?

    @Option(help: ArgumentHelp("scan: the strategies to report on (--strategy-report) or to scan with, in order (otherwise); comma-separated, e.g. region-halve,region-axis.", valueName: "list"))
    var strategies: String?

    @Option(help: "scan: lanes RobustScanner runs a budgeted frame in (1 or 2; default: 2 on a machine with two cores or more).")
    var lanes: Int = RobustScanner.laneCountDefault

    @Option(name: .customLong("write-corpus"), help: ArgumentHelp("scan: write the corpus frames as PNG files into this folder (for qrpos scan --frames) and stop.", valueName: "dir"))
    var corpusFolder: String?

    func validate() throws {
        guard Name(rawValue: name) != nil else {
            throw ValidationError("unknown benchmark '\(name)': choose one of \(Name.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard count >= ScanCorpus.Category.allCases.count else {
            throw ValidationError("--count must be at least \(ScanCorpus.Category.allCases.count), one frame per category")
        }
        guard (1...RobustScanner.budgetMillisMax).contains(budgetMillis) else {
            throw ValidationError("--budget-ms must be 1…\(RobustScanner.budgetMillisMax)")
        }
        guard payments >= 8, batches >= 1, (1...LedgerLimits.batchCountMax).contains(batchSize) else {
            throw ValidationError("--payments is at least 8, --batches at least 1, --batch-size 1…\(LedgerLimits.batchCountMax)")
        }
        if let cases {
            let known = Set(LedgerBench.cases.map(\.label))
            for c in cases.split(separator: ",") where !known.contains(String(c)) {
                throw ValidationError("unknown ledger case '\(c)': choose from \(LedgerBench.cases.map(\.label).joined(separator: ", "))")
            }
        }
        guard (1...120).contains(loopSeconds) else { throw ValidationError("--loop-seconds is 1 to 120") }
        if strategies != nil { _ = try strategyList() }
        guard (1...2).contains(lanes) else { throw ValidationError("--lanes is 1 or 2") }
        guard !(corpusReport && strategyReport) else {
            throw ValidationError("choose one of --corpus-report and --strategy-report")
        }
    }

    /// `--strategies`, parsed; nil when not given.
    func strategyList() throws -> [ScanStrategy]? {
        guard let strategies else { return nil }
        var list: [ScanStrategy] = []
        for name in strategies.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let strategy = ScanStrategy(description: name) else {
                throw ValidationError("unknown strategy '\(name)': choose from \(ScanStrategy.all.map(\.description).joined(separator: ", "))")
            }
            guard !list.contains(strategy) else { throw ValidationError("--strategies names \(name) twice") }
            list.append(strategy)
        }
        guard !list.isEmpty else { throw ValidationError("--strategies is empty") }
        return list
    }

    func run() throws {
        // On a terminal, a line on stderr says which case ran last and for how long it has run.
        let progress = corpusFolder == nil ? ProgressLine.start("qrpos bench \(name)") : nil
        defer { progress?.finish() }
        switch Name(rawValue: name)! {
        case .ledger:
            let bench = LedgerBench(walletCount: 1_000, merchantCount: 100, singleCount: payments, batchSize: batchSize, batchCount: batches,
                                    only: cases.map { Set($0.split(separator: ",").map(String.init)) })
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            var made = 0
            try bench.run {
                made += 1
                return (try SQLiteLedger(path: folder.appendingPathComponent("ledger-\(made).sqlite").path), "sqlite")
            }
            if let postgres {
                let run = UUID().uuidString.prefix(8).lowercased()
                // Each case's schema is dropped once the run ends, failed or not.
                var ledgers: [PostgresLedger] = []
                defer { for ledger in ledgers { try? ledger.dropSchema() } }
                try bench.run {
                    made += 1
                    let separator = postgres.contains("?") ? "&" : "?"
                    let ledger = try PostgresLedger(url: "\(postgres)\(separator)search_path=bench_\(run)_\(made)")
                    ledgers.append(ledger)
                    return (ledger, "postgres")
                }
            }
        case .sync:
            try SyncBench(count: payments).run()
        case .receipt:
            try receiptBench(count: payments)
        case .scan:
            var bench = ScanBench(seed: seed, count: count, budgetMillis: noBudget ? nil : budgetMillis, verbose: verbose,
                                  strategies: try strategyList(), lanes: lanes)
            if let corpusFolder {
                try bench.writeCorpus(to: corpusFolder)
            } else if corpusReport {
                bench.corpusReport()
            } else if strategyReport {
                bench.strategyReport(json: json)
            } else {
                // The live loop first, before the corpus fills memory, so its resident-memory
                // figure is the loop's own: 30 fps at 640x480 and 1280x720, zbar and robust.
                for (width, height) in [(640, 480), (1280, 720)] {
                    printJSON(try benchScanLoop(width: width, height: height, framesPerSecond: 30, seconds: loopSeconds,
                                                decoder: "zbar", makeDecoder: { CodeScanner().scan }))
                    let budget = budgetMillis
                    printJSON(try benchScanLoop(width: width, height: height, framesPerSecond: 30, seconds: loopSeconds,
                                                decoder: "robust", makeDecoder: {
                        let robust = RobustScanner()
                        return { robust.scan($0, budgetMillis: budget).codes }
                    }))
                }
                bench.timings()
            }
        }
    }
}

/// The scan benchmark: timings, the corpus report and the strategy report.
struct ScanBench {
    let seed: UInt64
    let count: Int
    /// RobustScanner's budget per frame; nil lets it try every strategy.
    let budgetMillis: Int?
    let verbose: Bool
    /// The strategies reported on, or scanned with in this order; nil: all of them, or the default order.
    var strategies: [ScanStrategy]? = nil
    var lanes = RobustScanner.laneCountDefault

    private func makeScanner() -> RobustScanner {
        RobustScanner(strategies: strategies ?? RobustScanner.strategiesDefault, laneCount: lanes)
    }

    private func corpus(_ size: ScanCorpus.FrameSize) -> [ScanCorpus.Frame] {
        ScanCorpus.generate(seed: seed, count: count, sizes: [size])
    }

    /// Writes every frame as `<size>-<index>-<category>.png`, with its expected payload in
    /// `expected.txt` (one `file<TAB>payload` line each, empty for no code).
    func writeCorpus(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var manifest = ""
        for size in ScanCorpus.FrameSize.standard {
            for frame in corpus(size) {
                let name = "\(size)-\(String(format: "%04d", frame.index))-\(frame.category.rawValue).png"
                try ImageFile.write(frame.luma, to: (folder as NSString).appendingPathComponent(name))
                manifest += "\(name)\t\(frame.expected?.text ?? "")\t\(frame.summary)\n"
            }
        }
        try manifest.write(toFile: (folder as NSString).appendingPathComponent("expected.txt"), atomically: true, encoding: .utf8)
    }

    // MARK: Timings

    /// One JSON line per (size, frame set, decoder): medians over the frames of that set.
    mutating func timings() {
        for size in ScanCorpus.FrameSize.standard {
            let frames = corpus(size)
            let sets: [(String, [ScanCorpus.Frame])] = [
                ("nominal", frames.filter { $0.category == .nominal }),
                ("hard", frames.filter { $0.category.hasCode && $0.category != .nominal }),
                ("nocode", frames.filter { !$0.category.hasCode }),
                ("corpus", frames),
            ]
            let plain = CodeScanner()
            let robust = makeScanner()
            // Warm both up (page in zbar's tables, settle the cost model) on frames not timed twice.
            for frame in frames.prefix(17) {
                _ = plain.scan(frame.luma)
                _ = robust.scan(frame.luma, budgetMillis: budgetMillis)
            }
            for (label, set) in sets {
                var times: [Double] = [], tally = CorpusTally()
                for frame in set {
                    let start = ContinuousClock.now
                    let codes = plain.scan(frame.luma)
                    times.append(elapsedMillis(start.duration(to: .now)))
                    tally.record(frame, decoded: codes)
                }
                printLine(case: "zbar-\(size)-\(label)", times: times, tally: tally, extra: ["density": "1"])
                times = []
                tally = CorpusTally()
                var strategies: [String: Int] = [:]
                for frame in set {
                    let result = robust.scan(frame.luma, budgetMillis: budgetMillis)
                    times.append(elapsedMillis(result.elapsed))
                    tally.record(frame, decoded: result.codes)
                    strategies[result.strategy?.description ?? "unread", default: 0] += 1
                }
                let strategyJSON = "{" + strategies.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
                printLine(case: "robust-\(size)-\(label)", times: times, tally: tally,
                          extra: ["budget_ms": budgetMillis.map(String.init) ?? "null", "strategies": strategyJSON])
            }
        }
    }

    private func printLine(case name: String, times: [Double], tally: CorpusTally, extra: [String: String]) {
        let sorted = times.sorted()
        let median = percentile(sorted, 0.5), p99 = percentile(sorted, 0.99)
        let mean = sorted.reduce(0, +) / Double(max(1, sorted.count))
        var fields: [(String, String)] = [
            ("bench", "\"scan\""), ("case", "\"\(name)\""), ("n", "\(times.count)"),
            ("median_ms", format(median)), ("p99_ms", format(p99)),
            ("per_second", format(mean > 0 ? 1000 / mean : 0)),
        ]
        if tally.coded.frames > 0 {
            fields.append(("coded", "\(tally.coded.frames)"))
            fields.append(("read", "\(tally.coded.read)"))
            fields.append(("read_rate", format(tally.readRate, digits: 4)))
            fields.append(("misread", "\(tally.coded.misread)"))
        }
        if tally.noCode.frames > 0 {
            fields.append(("nocode", "\(tally.noCode.frames)"))
            fields.append(("phantom", "\(tally.noCode.phantom)"))
        }
        fields += extra.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
    }

    // MARK: Reports

    /// A table per size and overall: frames, zbar's reads, RobustScanner's reads, misreads and
    /// phantom reads, its median time, and which strategies decoded.
    mutating func corpusReport() {
        var overallPlain = CorpusTally(), overallRobust = CorpusTally()
        var rows: [ScanCorpus.Category: (plain: CorpusTally.Counts, robust: CorpusTally.Counts, times: [Double], strategies: [ScanStrategy: Int])] = [:]
        let plain = CodeScanner()
        let robust = makeScanner()
        var bySize: [(ScanCorpus.FrameSize, CorpusTally, CorpusTally)] = []
        for size in ScanCorpus.FrameSize.standard {
            var sizePlain = CorpusTally(), sizeRobust = CorpusTally()
            defer { bySize.append((size, sizePlain, sizeRobust)) }
            for frame in corpus(size) {
                let plainCodes = plain.scan(frame.luma)
                let plainOutcome = overallPlain.record(frame, decoded: plainCodes)
                sizePlain.record(frame, decoded: plainCodes)
                let result = robust.scan(frame.luma, budgetMillis: budgetMillis)
                let outcome = overallRobust.record(frame, decoded: result.codes)
                sizeRobust.record(frame, decoded: result.codes)
                var row = rows[frame.category] ?? (CorpusTally.Counts(), CorpusTally.Counts(), [], [:])
                add(&row.plain, plainOutcome)
                add(&row.robust, outcome)
                row.times.append(elapsedMillis(result.elapsed))
                if let strategy = result.strategy { row.strategies[strategy, default: 0] += 1 }
                rows[frame.category] = row
                if outcome == .misread || outcome == .phantom || verbose && outcome == .missed {
                    print("\(outcome.rawValue): frame \(frame.index) \(frame.summary): \(result.codes.map { $0.text ?? "\($0.data)" }) tried \(result.tried.map(\.description).joined(separator: ",")) in \(format(elapsedMillis(result.elapsed), digits: 1)) ms")
                }
            }
        }
        print("seed \(seed), \(count) frames per size at \(ScanCorpus.FrameSize.standard.map(\.description).joined(separator: " and ")), \(budgetMillis.map { "budget \($0) ms" } ?? "no budget")")
        print(pad("category", 15) + pad("frames", 7, right: true) + pad("zbar", 8, right: true) + pad("robust", 8, right: true)
              + pad("misread", 8, right: true) + pad("phantom", 8, right: true) + pad("med ms", 8, right: true) + "  decoded by")
        for category in ScanCorpus.Category.allCases {
            guard let row = rows[category] else { continue }
            let strategies = row.strategies.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            let plainRate = category.hasCode ? row.plain.read : row.plain.frames - row.plain.phantom
            let robustRate = category.hasCode ? row.robust.read : row.robust.frames - row.robust.phantom
            print(pad(category.rawValue, 15) + pad("\(row.robust.frames)", 7, right: true)
                  + pad(percent(plainRate, row.plain.frames), 8, right: true) + pad(percent(robustRate, row.robust.frames), 8, right: true)
                  + pad("\(row.robust.misread)", 8, right: true) + pad("\(row.robust.phantom)", 8, right: true)
                  + pad(format(percentile(row.times.sorted(), 0.5), digits: 1), 8, right: true) + "  " + strategies)
        }
        let allTimes = rows.values.flatMap(\.times).sorted()
        print(pad("coded", 15) + pad("\(overallRobust.coded.frames)", 7, right: true)
              + pad(percent(overallPlain.coded.read, overallPlain.coded.frames), 8, right: true)
              + pad(percent(overallRobust.coded.read, overallRobust.coded.frames), 8, right: true)
              + pad("\(overallRobust.coded.misread)", 8, right: true) + pad("-", 8, right: true)
              + pad(format(percentile(allTimes, 0.5), digits: 1), 8, right: true)
              + "  zbar misread \(overallPlain.coded.misread)")
        for (size, sizePlain, sizeRobust) in bySize {
            print(pad("coded \(size)", 15) + pad("\(sizeRobust.coded.frames)", 7, right: true)
                  + pad(percent(sizePlain.coded.read, sizePlain.coded.frames), 8, right: true)
                  + pad(percent(sizeRobust.coded.read, sizeRobust.coded.frames), 8, right: true)
                  + pad("\(sizeRobust.coded.misread)", 8, right: true))
        }
        print(pad("no code", 15) + pad("\(overallRobust.noCode.frames)", 7, right: true)
              + pad("-", 8, right: true) + pad("-", 8, right: true) + pad("-", 8, right: true)
              + pad("\(overallRobust.noCode.phantom)", 8, right: true) + pad("", 8, right: true)
              + "  zbar phantom \(overallPlain.noCode.phantom)")
    }

    /// For each coded category, how many frames each strategy reads on its own (no budget):
    /// the evidence for the order of ``RobustScanner/fallbacksDefault``.
    mutating func strategyReport(json: Bool) {
        let robust = RobustScanner()
        var reads: [ScanCorpus.Category: [ScanStrategy: Int]] = [:]
        var times: [ScanStrategy: [Double]] = [:]
        var frames: [ScanCorpus.Category: Int] = [:]
        var plainMissed: [ScanCorpus.Category: Int] = [:], rescued: [ScanCorpus.Category: [ScanStrategy: Int]] = [:]
        var misreads: [ScanStrategy: Int] = [:]
        for size in ScanCorpus.FrameSize.standard {
            for frame in corpus(size) {
                frames[frame.category, default: 0] += 1
                var plainRead = true
                var line: [String] = []
                for strategy in strategies ?? ScanStrategy.all {
                    let start = ContinuousClock.now
                    let codes = robust.attempt(strategy, on: frame.luma)
                    let took = elapsedMillis(start.duration(to: .now))
                    if size == .vga { times[strategy, default: []].append(took) }
                    let outcome = CorpusOutcome(frame: frame, decoded: codes)
                    line.append("\"\(strategy)\": [\"\(outcome.rawValue)\", \(format(took))]")
                    if outcome == .misread || outcome == .phantom || verbose && outcome == .missed {
                        misreads[strategy, default: 0] += 1
                        print("\(outcome.rawValue) by \(strategy): frame \(frame.index) \(frame.summary): \(codes.map { "\($0.symbology) \($0.text ?? "\($0.data)")" }) expected \(frame.expected?.text ?? "nothing")")
                    }
                    if outcome == .read {
                        reads[frame.category, default: [:]][strategy, default: 0] += 1
                        if !plainRead { rescued[frame.category, default: [:]][strategy, default: 0] += 1 }
                    }
                    if strategy == .plain, outcome != .read, frame.category.hasCode {
                        plainRead = false
                        plainMissed[frame.category, default: 0] += 1
                    }
                }
                let finderStart = ContinuousClock.now
                let regions = robust.codeRegions(in: frame.luma)
                line.append("\"finder_ms\": \(format(elapsedMillis(finderStart.duration(to: .now))))")
                if let box = frame.codeBox {
                    let best = regions.map { $0.box.intersection(box)?.area ?? 0 }.max() ?? 0
                    let rank = regions.firstIndex { ($0.box.intersection(box)?.area ?? 0) * 10 >= box.area * 9 }
                    line.append("\"region_cover\": \(format(Double(best) / Double(max(1, box.area)))), \"region_rank\": \(rank.map(String.init) ?? "null"), \"regions\": \(regions.count)")
                    if let first = regions.first {
                        var crop = LumaFrame(width: 1, height: 1)
                        LumaOps.crop(first.box, of: frame.luma, into: &crop)
                        let (low, high) = LumaOps.clippedRange(crop)
                        line.append("\"region0\": \"\(first.box) a=\(Int(first.angle)) c=\(format(first.coherence, digits: 2)) span=\(high - low)\"")
                    }
                }
                if json {
                    print("{\"bench\": \"scan-strategies\", \"frame\": \(frame.index), \"size\": \"\(size)\", \"category\": \"\(frame.category)\", \"summary\": \"\(frame.summary)\", " + line.joined(separator: ", ") + "}")
                }
            }
        }
        print("reads per strategy alone (rescued from plain's misses in brackets); seed \(seed), \(count) frames per size")
        print(pad("category", 15) + pad("n", 5, right: true) + (strategies ?? ScanStrategy.all).map { pad($0.description, 13, right: true) }.joined())
        for category in ScanCorpus.Category.coded {
            let line = (strategies ?? ScanStrategy.all).map { strategy in
                let read = reads[category]?[strategy] ?? 0
                let saved = rescued[category]?[strategy] ?? 0
                return pad(strategy == .plain ? "\(read)" : "\(read) (\(saved))", 13, right: true)
            }.joined()
            print(pad(category.rawValue, 15) + pad("\(frames[category] ?? 0)", 5, right: true) + line
                  + "   plain missed \(plainMissed[category] ?? 0)")
        }
        print(pad("median ms vga", 20) + (strategies ?? ScanStrategy.all).map {
            pad(format(percentile((times[$0] ?? []).sorted(), 0.5), digits: 2), 13, right: true)
        }.joined())
        print("misreads or phantoms per strategy: \(misreads.isEmpty ? "none" : misreads.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
    }

    private func add(_ counts: inout CorpusTally.Counts, _ outcome: CorpusOutcome) {
        counts.frames += 1
        switch outcome {
        case .read: counts.read += 1
        case .missed: counts.missed += 1
        case .misread: counts.misread += 1
        case .phantom: counts.phantom += 1
        case .quiet: break
        }
    }
}

private func elapsedMillis(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) * 1e-15
}

/// The nearest-rank percentile of sorted values (0 for none).
func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

private func format(_ value: Double, digits: Int = 3) -> String {
    String(format: "%.\(digits)f", value)
}

private func percent(_ part: Int, _ whole: Int) -> String {
    whole == 0 ? "-" : String(format: "%.1f%%", 100 * Double(part) / Double(whole))
}

private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let gap = String(repeating: " ", count: max(0, width - text.count))
    return right ? gap + text : text + gap
}

/// `qrpos bench receipt`: rendering a signed receipt to ESC/POS, for an 80 mm printer that draws
/// the QR itself and for a 58 mm one that gets the QR as an image.
func receiptBench(count: Int) throws {
    let key = ReceiptKey()
    let cny = { (minor: Int64) in Money(minorUnits: minor, currency: .CNY) }
    // A receipt as the till issues one: a number from the receipt book, items with their VAT,
    // the approval code.
    let paymentID = UUIDv7.make()
    let receipt = Receipt(number: "T1-000042", kind: .sale, merchantID: "mer_bench0000000000", merchantName: "Café Corner Noodle Bar",
                          merchantCity: "Hangzhou", terminalID: "T1", paymentID: paymentID, method: "customer code", payer: "code …3456",
                          amount: cny(2_050), issuedAt: UnixTime.nowMillis() / 1000,
                          lines: [.init(name: "Beef noodles", quantity: 1, unitPrice: cny(1_250), total: cny(1_250), taxRate: 900),
                                  .init(name: "Jasmine tea", quantity: 2, unitPrice: cny(400), total: cny(800), taxRate: 1_300)],
                          authorization: .online, approvalCode: Checkout.approvalCode(paymentID))
    let signed = try key.sign(receipt)
    for profile in [PrinterProfile.epson80, .cheap58] {
        let clock = ContinuousClock()
        var times: [Double] = []
        var size = 0
        for _ in 0..<max(1, count) {
            let began = clock.now
            size = try EscPos.render(signed, profile: profile).bytes.count
            times.append(milliseconds(began.duration(to: clock.now)))
        }
        times.sort()
        printJSON(["bench": "receipt", "case": "escpos-" + profile.name, "n": times.count, "median_ms": percentile(times, 0.5),
                   "p99_ms": percentile(times, 0.99), "per_second": Int((1_000 / max(0.000_001, percentile(times, 0.5))).rounded()),
                   "bytes": size, "qr": profile.nativeQR ? "native GS ( k" : "GS v 0 raster"])
    }
    let clock = ContinuousClock()
    var times: [Double] = []
    var size = 0
    for _ in 0..<max(1, count) {
        let began = clock.now
        size = try HTMLReceipt.render(signed).utf8.count
        times.append(milliseconds(began.duration(to: clock.now)))
    }
    times.sort()
    printJSON(["bench": "receipt", "case": "html", "n": times.count, "median_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99),
               "per_second": Int((1_000 / max(0.000_001, percentile(times, 0.5))).rounded()), "bytes": size, "qr": "inline SVG"])
}
