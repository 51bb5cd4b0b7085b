import ArgumentParser
import Foundation
import Hummingbird
import Ledger
import LedgerServer
import Logging
import Payments
import Synchronization
import Terminal

extension StoreOptions {
    /// The terminal's request-signing key (<home>/terminal-key), made on first use.
    func terminalKey() throws -> TerminalKey {
        let path = (homeDirectory as NSString).appendingPathComponent("terminal-key")
        do { return try TerminalKey(seed: try keySeed(at: path, what: "terminal key")) } catch let error as OfflineTokenError {
            throw Failure("the terminal key at \(path) is damaged: \(error)")
        }
    }
}

/// `qrpos ledger serve`: the ledger on HTTP for a fleet of terminals.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the ledger over HTTP (Hummingbird): terminal sync batches, account balances; signed requests only.",
        discussion: """
            The routes are described in assets/openapi.json. Terminals are registered in a JSON file \
            (--terminals): [{"id": …, "merchant": …, "public_key": <64 hex digits, from `qrpos terminal \
            key`>}]. Offline codes are checked with this ledger's issuer key (<home>/offline-issuer-key). \
            Prints {"listening": PORT} once it accepts connections; stops on SIGTERM or SIGINT.
            """)
    @OptionGroup var store: StoreOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free one, printed).") var port = 8080
    @Option(help: ArgumentHelp("JSON file of the terminals allowed to call.", valueName: "file")) var terminals: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: terminals) else { throw Failure("cannot read \(terminals)") }
        let registrations: [TerminalRegistration]
        do { registrations = try JSONDecoder().decode([TerminalRegistration].self, from: data) } catch {
            throw Failure("\(terminals) is not a list of terminals: \(error)")
        }
        let authenticator: RequestAuthenticator
        do { authenticator = try RequestAuthenticator(terminals: registrations) } catch let rejection as Rejection {
            throw Failure(rejection.reason)
        }
        let ledger = try store.openCore()
        let logger = Logger(label: "qrpos.ledger.server")
        let router = LedgerHTTP.router(store: ledger, authenticator: authenticator, issuers: [try store.offlineIssuerKey().publicKey],
                                       clockSkewMillis: OfflinePolicy.standard(for: .CNY).clockSkewMillis, logger: logger)
        let app = LedgerHTTP.application(router: router, host: host, port: port, logger: logger) { bound in
            FileHandle.standardOutput.write(Data("{\"listening\":\(bound)}\n".utf8))
        }
        let failure = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await app.runService() } catch { failure.withLock { $0 = "\(error)" } }
            done.signal()
        }
        done.wait()
        if let message = failure.withLock({ $0 }) { throw Failure("the ledger server stopped: \(message)") }
    }
}

/// `qrpos terminal key`: this terminal's public key, for the server's list of terminals.
struct TerminalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "terminal", abstract: "This terminal's identity.",
                                                    subcommands: [Key.self])

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print this terminal's public key (64 hex digits), made on first use.")
        @OptionGroup var store: StoreOptions
        func run() throws { print(try store.terminalKey().publicKey.hex) }
    }
}
