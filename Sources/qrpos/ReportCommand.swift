import ArgumentParser
import Foundation
import Receipts
import Terminal

/// `qrpos report x|z`: the day's totals from the receipt book, on screen or on the printer.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "The day's totals: the X report (running) and the Z report (closes the day).",
        subcommands: [X.self, Z.self])

    struct Output: ParsableArguments {
        @Option(help: ArgumentHelp("Also print it: file:PATH, tcp://HOST:9100 or cups:QUEUE.", valueName: "url")) var printer: String?
        @Option(help: ArgumentHelp("tm-t20ii, pos-5890, or a profile JSON file.", valueName: "name")) var profile = "tm-t20ii"
        @Option(help: "Seconds to wait for the printer.") var timeout: Double = 10
        @Option(help: "Width in columns on screen: 32, 42 or 48.") var columns = 32
        @Flag(help: "The report as one JSON object instead of text.") var json = false

        func validate() throws { try checkColumns(columns) }

        /// Shows `report`, then prints it if a printer was named; `what` says what the failure
        /// leaves behind.
        func emit(_ report: DayReport, copy: Bool = false, afterFailure what: String) throws {
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.text(columns: columns, copy: copy), terminator: "")
            }
            guard let printer else { return }
            do {
                let job = try EscPos.render(report: report, profile: try printerProfile(profile), copy: copy)
                let bytes = try send(job, printer: printer, timeout: timeout)
                FileHandle.standardError.write(Data("report printed on \(printer) (\(bytes) bytes)\n".utf8))
            } catch {
                throw Failure("\(error); \(what)")
            }
        }
    }

    struct X: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Running totals since the last Z report; changes nothing.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var terminal: TerminalOptions
        @OptionGroup var output: Output

        func run() throws {
            let book = try store.receiptBook()
            let report = try book.xReport(terminal: terminal.terminal, merchantName: try merchantName(book, terminal.terminal),
                                          now: Int64(Date().timeIntervalSince1970))
            try output.emit(report, afterFailure: "an X report changes nothing, so print it again when the printer is back")
        }
    }

    struct Z: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close the day: the totals since the last Z report under the next Z number, kept for good.",
            discussion: """
                The Z report is made and stored before it is printed, and the day's receipts are closed by it: it \
                cannot be undone, and the next X report starts from zero. A printer failure leaves it made; \
                `--reprint N` prints Z report N again, marked as a copy.
                """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var terminal: TerminalOptions
        @OptionGroup var output: Output
        @Option(help: ArgumentHelp("Print Z report N again (a copy) instead of closing the day.", valueName: "n")) var reprint: Int?

        func run() throws {
            let book = try store.receiptBook()
            if let reprint {
                guard let report = try book.zReport(terminal: terminal.terminal, number: reprint) else {
                    throw Failure("terminal \(terminal.terminal) has no Z report \(reprint)")
                }
                try output.emit(report, copy: true, afterFailure: "nothing changed")
                return
            }
            // A day closes with every payment in it: one whose receipt was never made (a till
            // killed between the ledger's answer and the receipt) gets it now.
            if (try? terminal.merchantID()) != nil, store.isPostgres || FileManager.default.fileExists(atPath: store.databasePath) {
                for receipt in try makeCheckout(store, terminal).recoverReceipts() {
                    FileHandle.standardError.write(Data("recovered receipt \(receipt.receipt.number) for payment \(receipt.receipt.paymentID)\n".utf8))
                }
            }
            let report = try book.closeDay(terminal: terminal.terminal, merchantName: try merchantName(book, terminal.terminal),
                                           now: Int64(Date().timeIntervalSince1970))
            try output.emit(report, afterFailure: "Z report \(report.number ?? 0) is made and kept: `qrpos report z --reprint \(report.number ?? 0)` prints it")
        }
    }
}

/// The name on the terminal's newest receipt (reports print under it), else the terminal's id.
private func merchantName(_ book: ReceiptBook, _ terminal: String) throws -> String {
    try book.last(terminal: terminal)?.receipt.receipt.merchantName ?? "terminal \(terminal)"
}
