import ArgumentParser

/// `qrpos bench NAME --json`: measurements, one JSON object per line (being written).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks: one JSON object per measurement.")
    @Argument(help: "What to measure: scan.") var name: String
    @Flag(help: "Print JSON lines.") var json = false

    func run() throws {
        throw Failure("bench \(name) is not written yet")
    }
}
