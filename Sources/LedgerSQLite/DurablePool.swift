import GRDB

/// Opens the project's SQLite files (the ledger, the terminal journal, the receipt book) so that
/// every commit is on disk before it returns: WAL with `synchronous = FULL` on the connection
/// that writes. The one place that sets it: a `prepareDatabase` of the caller's could not (see
/// below), and the readers' setting does not matter, since they never commit.
///
/// GRDB's `DatabasePool` turns its writer to WAL after `prepareDatabase` has run, and sets
/// `synchronous = NORMAL` there as it does (its default for WAL): a commit then survives the
/// process being killed, but not the machine losing power, since the log is synced only at
/// checkpoints. The readers keep what `prepareDatabase` set, so asking a reader says FULL while
/// the writer runs NORMAL; ``settings(_:)`` asks the writer.
public enum DurablePool {
    public static func open(path: String, configuration: Configuration) throws -> DatabasePool {
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }

    /// The journal mode and `synchronous` level the writer commits with ("wal", 2 = FULL).
    public static func settings(_ pool: DatabasePool) throws -> (journalMode: String, synchronous: Int) {
        try pool.writeWithoutTransaction { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
        }
    }
}
