#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Named places where a crash test can kill the process at the worst moment, the way a power cut
/// would: `QRPOS_FAILPOINT=NAME` makes the process SIGKILL itself when it reaches NAME. Unset (as
/// always outside the crash tests), a failpoint is one environment lookup.
///
/// - `charge.after-ledger`: the ledger has taken a customer's code and answered; the receipt is
///   not made yet.
/// - `online.after-journal`: a sale through the ledger server is in the terminal's journal, and
///   the server has not been asked yet.
/// - `online.after-answer`: the server has answered "approved"; the journal does not know yet.
enum Failpoint {
    static let armed = ProcessInfo.processInfo.environment["QRPOS_FAILPOINT"]

    static func hit(_ name: String) {
        guard armed == name else { return }
        kill(getpid(), SIGKILL)
    }
}
