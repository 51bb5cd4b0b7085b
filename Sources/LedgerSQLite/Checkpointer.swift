import Dispatch
import Foundation
import GRDB
import Synchronization

/// Copies the write-ahead log back into the database file on its own connection and thread, a
/// little after commits, so that no payment waits for a checkpoint. The ledger's and the
/// terminal journal's (both SQLite, WAL, synchronous=FULL).
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that one
/// payment waits for the whole log to be copied and the database file synced (5–6 ms here,
/// the entire p99 of `qrpos bench ledger`). A passive checkpoint from another connection takes
/// no write lock: writers keep appending while it copies what is already committed.
public final class Checkpointer: Sendable {
    /// The log's bound, in pages, should this fall behind (SQLite's own default is 1,000).
    public static let walPagesMax = 20_000
    /// The least time between two checkpoints.
    static let intervalMillisMin: Int64 = 200

    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "qrpos.ledger.checkpoint")
    /// Whether a checkpoint is scheduled or running, and when the last one began.
    private let state = Mutex<(busy: Bool, lastMillis: Int64)>((false, 0))

    public init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(1)
        connection = try DatabaseQueue(path: path, configuration: config)
    }

    /// Called after each commit: schedules a checkpoint unless one is running or ran just now.
    public func committed() {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let schedule = state.withLock { s -> Bool in
            guard !s.busy, now - s.lastMillis >= Self.intervalMillisMin else { return false }
            s = (true, now)
            return true
        }
        guard schedule else { return }
        queue.async { [self] in
            // Best effort: a checkpoint that cannot run now (another process holds the
            // checkpoint lock) runs after a later commit, and the data is in the log meanwhile.
            _ = try? connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
            state.withLock { $0.busy = false }
        }
    }
}
