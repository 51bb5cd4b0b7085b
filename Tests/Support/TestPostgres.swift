import Foundation

/// The project's PostgreSQL for the tests of every module that needs one: the server named by
/// `QRPOS_TEST_POSTGRES_URL` (set by the test command), or started here once per test process
/// with services/postgres.sh (installed if missing), its earlier runs' `t_…` schemas dropped.
public enum TestPostgres {
    public struct StartFailed: Error, CustomStringConvertible { public let description: String }

    /// Runs services/`service` (postgres.sh unless named) with `args`; its status and output.
    public static func script(_ args: [String], service: String = "postgres.sh") -> (Int32, String) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        // Output goes to a file, not a pipe: the server the script starts inherits its
        // descriptors, and a pipe would never reach its end while the server runs.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("qrpos-pg-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("services/\(service)").path] + args
        guard let handle = try? FileHandle(forWritingTo: log) else { return (-1, "cannot write \(log.path)") }
        process.standardOutput = handle
        process.standardError = handle
        do { try process.run() } catch { return (-1, "\(error)") }
        process.waitUntilExit()
        try? handle.close()
        return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }

    /// Runs `sql` through psql on the project's server (after `baseURL` started it).
    public static func psql(_ sql: String) throws {
        _ = try baseURL.get()
        let (status, output) = script(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard status == 0 else { throw StartFailed(description: "psql failed (\(status)): \(output.suffix(600))") }
    }

    /// The server's URL, started once per test process; earlier runs' test schemas (t_…, x_…)
    /// are dropped, so a long-lived dev server does not grow a schema per test forever.
    public static let baseURL: Result<String, StartFailed> = {
        if let url = ProcessInfo.processInfo.environment["QRPOS_TEST_POSTGRES_URL"], !url.isEmpty { return .success(url) }
        let (status, output) = script(["start"])
        guard status == 0, let url = output.split(separator: "\n").last.map(String.init), url.hasPrefix("postgres") else {
            return .failure(StartFailed(description: "services/postgres.sh start failed (\(status)): \(output.suffix(600))"))
        }
        _ = script(["psql", "-q", "-c", """
            DO $$DECLARE r record; BEGIN FOR r IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%' OR nspname LIKE 'x\\_%' LOOP
            EXECUTE 'DROP SCHEMA ' || quote_ident(r.nspname) || ' CASCADE'; END LOOP; END$$;
            """])
        return .success(url)
    }()
}

/// The project's private CUPS scheduler (services/cups.sh), started once per test process.
public enum TestCUPS {
    /// The scheduler's socket, for CUPS_SERVER.
    public static let server: Result<String, TestPostgres.StartFailed> = {
        let (status, output) = TestPostgres.script(["start"], service: "cups.sh")
        guard status == 0, let socket = output.split(separator: "\n").last.map(String.init), socket.hasSuffix(".sock") else {
            return .failure(TestPostgres.StartFailed(description: "services/cups.sh start failed (\(status)): \(output.suffix(600))"))
        }
        return .success(socket)
    }()

    /// A folder the scheduler's backends (run as the `lp` user) can write in.
    public static func outputFolder(_ socket: String) -> String {
        URL(fileURLWithPath: socket).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("out").path
    }
}
