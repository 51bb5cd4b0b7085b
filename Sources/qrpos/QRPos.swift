import ArgumentParser
import Foundation
import Logging

@main
struct QRPos: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpos",
        abstract: "Point-of-sale terminal: scan payment codes, show merchant QR codes, authorize against a wallet ledger, issue signed receipts.",
        discussion: """
            Exit status: 0 success; 1 error (one line on stderr saying why); 3 the payment was declined \
            (the reason on stderr, and in the JSON with --json); 64 bad arguments.
            """,
        subcommands: [
            Demo.self, Scan.self, MerchantCommand.self, MerchantQRCommand.self, OrderCommand.self,
            WalletCommand.self, Charge.self, RefundCommand.self, LedgerCommand.self, ReceiptCommand.self, ReportCommand.self, TillCommand.self, KioskCommand.self,
            SyncCommand.self, TerminalCommand.self, Devices.self, Bench.self, Frames.self,
        ]
    )

    static func main() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: ProcessInfo.processInfo.environment["QRPOS_LOG_LEVEL"] ?? "") ?? .notice
            return handler
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let declined as Declined {
            FileHandle.standardError.write(Data("declined: \(declined.reason)\n".utf8))
            Foundation.exit(3)
        } catch {
            exit(withError: error)
        }
    }
}

/// A payment the ledger declined: not a failure of the program, so it has its own exit status (3).
struct Declined: Error {
    let reason: String
}

/// A failure the user can act on, printed as one line.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
