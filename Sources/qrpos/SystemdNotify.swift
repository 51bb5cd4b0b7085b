import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// systemd's service notifications (sd_notify(3)), written by hand: one datagram to the Unix
/// socket in `$NOTIFY_SOCKET` (a path, or an abstract name after "@"). libsystemd is not among
/// the project's packages, and the protocol is this one call. Without `$NOTIFY_SOCKET` (not
/// started by systemd) every call does nothing.
enum SystemdNotify {
    /// Sends `state` ("READY=1", "WATCHDOG=1", "STATUS=…", several joined by newlines); false when
    /// there is no socket or the send failed.
    @discardableResult
    static func send(_ state: String) -> Bool {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty,
              path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var name = Array(path.utf8)
        if name.first == UInt8(ascii: "@") { name[0] = 0 }   // abstract namespace
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in name.enumerated() { raw[i] = byte }
        }
        let length = socklen_t(MemoryLayout.offset(of: \sockaddr_un.sun_path)! + name.count)
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddr in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sockaddr, length) }
            }
        }
        return sent == bytes.count
    }

    /// The watchdog interval systemd asked for (`$WATCHDOG_USEC`), if any.
    static var watchdogInterval: Duration? {
        guard let text = ProcessInfo.processInfo.environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 else { return nil }
        if let pid = ProcessInfo.processInfo.environment["WATCHDOG_PID"], Int32(pid) != getpid() { return nil }
        return .microseconds(usec)
    }

    /// Pings the watchdog at half its interval, each time only if `healthy()` says so: a till
    /// whose control API stopped answering is restarted by systemd.
    static func startWatchdog(healthy: @escaping @Sendable () -> Bool) {
        guard let interval = watchdogInterval else { return }
        Thread.detachNewThread {
            while true {
                Thread.sleep(forTimeInterval: Double(interval.components.seconds) / 2 + Double(interval.components.attoseconds) / 2e18)
                if healthy() { send("WATCHDOG=1") }
            }
        }
    }
}
