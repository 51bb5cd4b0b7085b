import Foundation
import Testing

/// The hardware-in-the-loop rig: a real V4L2 driver (vivid) in a QEMU guest, driven through the
/// real `qrpos scan --device`. `hardware/dev.sh test` installs QEMU, so CI always runs it.
@Suite("Hardware in the loop")
struct HILTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let qemuInstalled = FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64")

    /// The qrpos executable SwiftPM built beside this test bundle.
    static var qrpos: String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("qrpos")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            dir = dir.deletingLastPathComponent()
        }
        return repo.appendingPathComponent(".build/debug/qrpos").path
    }

    @Test("qrpos scan --device reads codes from vivid, de-duplicates them, and survives an unplug",
          .enabled(if: qemuInstalled, "QEMU is not installed (hardware/deps.sh --hil installs it)"),
          .timeLimit(.minutes(10)))
    func vivid() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.repo.appendingPathComponent("hardware/hil/run.sh").path, Self.qrpos]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let log = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "hardware/hil/run.sh failed:\n\(log)")
        #expect(log.contains("HIL PASS"))
    }
}
