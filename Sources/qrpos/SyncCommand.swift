import ArgumentParser
import Foundation
import Payments
import Terminal

/// `qrpos sync …`: the terminal's journal and what waits in it for the ledger.
struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "The terminal's journal: what waits to be forwarded to the ledger.",
        subcommands: [SyncStatusCommand.self, SyncPushCommand.self]
    )
}

struct SyncStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the payments taken offline and not yet acknowledged by the ledger: how many, how much, how old.",
        discussion: """
            The journal is <home>/journal.sqlite unless --journal names another. Exits 0 whatever \
            waits; with --json prints {"unsynced_count", "unsynced_amounts", "oldest_age_seconds", \
            "undecided_count", "offline_refused", "journal"}. offline_refused is why the terminal takes no \
            more offline payments under the offline rules given (the till's and charge's options of the \
            same names), or null while it still takes them.
            """
    )

    @OptionGroup var store: StoreOptions
    @Option(help: ArgumentHelp("The terminal journal (default <home>/journal.sqlite).", valueName: "path"))
    var journal: String?
    @OptionGroup(title: "Offline rules") var offline: OfflinePolicyOptions
    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let path = journal ?? (store.homeDirectory as NSString).appendingPathComponent("journal.sqlite")
        guard FileManager.default.fileExists(atPath: path) else { throw Failure("no terminal journal at \(path)") }
        let status = try TerminalJournal(path: path).syncStatus(now: UnixTime.nowMillis())
        // Whether even the smallest payment would still be taken offline, in each currency waiting.
        let refused = try status.unsyncedAmounts.keys.sorted().compactMap { code -> String? in
            guard let currency = Currency(code) else { return nil }
            return try offline.policy(for: currency).syncRequired(count: status.unsyncedCount,
                                                                  total: Money(minorUnits: status.unsyncedAmounts[code]!, currency: currency),
                                                                  oldestAgeMillis: status.oldestAgeMillis, adding: 1)
        }.first
        let amounts = status.unsyncedAmounts.keys.sorted().compactMap { code -> String? in
            guard let currency = Currency(code) else { return nil }
            return Money(minorUnits: status.unsyncedAmounts[code]!, currency: currency).description
        }
        if json {
            printJSON(["journal": path, "unsynced_count": status.unsyncedCount,
                       "unsynced_amounts": Dictionary(uniqueKeysWithValues: status.unsyncedAmounts.compactMap { code, minor in
                           Currency(code).map { (code, Money(minorUnits: minor, currency: $0).decimalString) }
                       }),
                       "oldest_age_seconds": status.oldestAgeMillis.map { NSNumber(value: $0 / 1000) } ?? NSNull(),
                       "undecided_count": status.undecidedCount, "offline_refused": refused ?? NSNull()])
        } else if status.unsyncedCount == 0 {
            print("nothing waits: every offline payment has reached the ledger" + (status.undecidedCount > 0 ? " (\(status.undecidedCount) sales await an answer)" : ""))
        } else {
            let age = (status.oldestAgeMillis ?? 0) / 1000
            print("\(status.unsyncedCount) offline payments wait (\(amounts.joined(separator: ", "))), the oldest \(age / 3600) h \(age % 3600 / 60) min old"
                  + (status.undecidedCount > 0 ? "; \(status.undecidedCount) sales await an answer" : "")
                  + (refused.map { "\nno more offline payments: \($0)" } ?? ""))
        }
    }
}
