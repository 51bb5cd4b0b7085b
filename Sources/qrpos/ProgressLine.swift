import Foundation
import Synchronization

/// One line on stderr, rewritten four times a second, telling someone at a terminal that long
/// work goes on: what it is, how many results are out, the last one, and how long it has run;
/// at the end, one line that stays (`qrpos bench receipt: 3 results in 1.4 s`). Nothing at all
/// when stderr is not a terminal, so rigs, CI and pipes see only their JSON lines.
///
/// Lines printed on stdout meanwhile (``printJSON(_:)``) clear it first and redraw it after, so
/// the two never mix on one row.
final class ProgressLine: Sendable {
    /// The one shown now, if any.
    static let active = Mutex<ProgressLine?>(nil)

    private struct State {
        var results = 0
        var last: String?
        var finished = false
        var tick = 0
    }

    let label: String
    private let began = ContinuousClock.now
    private let state = Mutex(State())

    private init(label: String) { self.label = label }

    /// Starts showing `label`'s progress when stderr is a terminal; nil (and nothing shown) otherwise.
    @discardableResult
    static func start(_ label: String) -> ProgressLine? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        let line = ProgressLine(label: label)
        active.withLock { $0 = line }
        Thread.detachNewThread {
            while true {
                Thread.sleep(forTimeInterval: 0.25)
                guard line.draw() else { return }
            }
        }
        return line
    }

    /// A result is out: counted, and named on the line when it has a name.
    func note(_ name: String?) {
        state.withLock { s in
            s.results += 1
            if let name { s.last = name }
        }
    }

    /// Runs `body` (which prints on stdout) with the line cleared, then draws it again.
    static func aside(_ body: () -> Void) {
        guard let line = active.withLock({ $0 }) else { return body() }
        write("\r\u{1B}[K")
        body()
        _ = line.draw()
    }

    /// Ends the line with the summary that stays.
    func finish() {
        let results = state.withLock { s -> Int in
            s.finished = true
            return s.results
        }
        Self.active.withLock { if $0 === self { $0 = nil } }
        Self.write("\r\u{1B}[K\(label): \(results) result\(results == 1 ? "" : "s") in \(Self.seconds(since: began)) s\n")
    }

    /// Draws the line; false once finished.
    private func draw() -> Bool {
        let (finished, text) = state.withLock { s -> (Bool, String) in
            s.tick += 1
            let spinner = Array("|/-\\")[s.tick % 4]
            var text = "\(spinner) \(label): \(s.results) done"
            if let last = s.last { text += " (last: \(last))" }
            return (s.finished, text + ", \(Self.seconds(since: began)) s")
        }
        if !finished { Self.write("\r" + text + "\u{1B}[K") }
        return !finished
    }

    private static func seconds(since began: ContinuousClock.Instant) -> String {
        String(format: "%.1f", milliseconds(began.duration(to: .now)) / 1000)
    }

    private static func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
