import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A program started with posix_spawn in a process group of its own, with none of the test
/// runner's descriptors but 0, 1 and 2 (which go to /dev/null, or stdout and stderr to a file).
///
/// For programs that leave something running behind them (tmux's server, Chromium's helpers).
/// Started through Foundation's Process, they inherit the runner's pipes, so its run never
/// ends; and closing those in the child (the obvious fix) closes the socket Process watches
/// too, after which Process blocks waiting for a child that is still running, and with it every
/// other Process in the test binary.
public final class Spawned: @unchecked Sendable {
    public let pid: pid_t
    private var status: Int32?

    public struct Failed: Error, CustomStringConvertible { public let description: String }

    public init(_ executable: String, _ arguments: [String], output: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if output != nil {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)   // its errors beside its output
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        // Through bash, which closes every other descriptor it inherited before it becomes the
        // program (posix_spawn's closefrom is not in Swift's Glibc).
        let close = #"for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done; exec "$0" "$@""#
        let argv = (["/bin/bash", "-c", close, executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, "/bin/bash", &actions, &attributes, argv, environ)
        guard code == 0 else { throw Failed(description: "cannot start \(executable): \(String(cString: strerror(code)))") }
        self.pid = pid
    }

    /// Waits for it to end; its exit status (128 + the signal when killed).
    @discardableResult
    public func wait() -> Int32 {
        if let status { return status }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        let code = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
        status = code
        return code
    }

    /// SIGTERM to its whole process group (a browser's helpers too), then waits.
    public func terminate() {
        guard status == nil else { return }
        kill(-pid, SIGTERM)
        wait()
    }
}
