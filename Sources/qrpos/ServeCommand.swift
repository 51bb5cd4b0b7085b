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
    @Option(help: ArgumentHelp("JSON file of the wallets' phones allowed to call: [{\"id\": …, \"public_key\": <from `qrpos wallet key`>, \"bank\": <a --banks id, optional: only it answers the wallet's bank deposits and withdrawals>}].", valueName: "file"))
    var wallets: String?
    @Option(help: ArgumentHelp("JSON file of the banks allowed to call back about held deposits and withdrawals (POST /v1/bank/callbacks): [{\"id\": …, \"public_key\": …}].", valueName: "file"))
    var banks: String?
    @Option(name: .customLong("request-window"), help: "Seconds a signed request's time may be from this server's clock; a request not answered within it can never be taken later.")
    var requestWindow = 300
    @Option(name: .customLong("sweep-seconds"), help: "How often expired holds and ended offline allowances are released.") var sweepSeconds = 60

    func validate() throws {
        guard (1...86_400).contains(sweepSeconds) else { throw ValidationError("--sweep-seconds is 1 to 86400") }
        guard (1...3_600).contains(requestWindow) else { throw ValidationError("--request-window is 1 to 3600 seconds") }
    }

    /// The registrations a JSON file lists (`--terminals`, `--wallets`, `--banks`); none without a file.
    private func registered<T: Decodable>(_ path: String?, as: T.Type, what: String) throws -> [T] {
        guard let path else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure("cannot read \(path)") }
        do { return try JSONDecoder().decode([T].self, from: data) } catch {
            throw Failure("\(path) is not a list of \(what): \(error)")
        }
    }

    func run() throws {
        let registrations = try registered(terminals, as: TerminalRegistration.self, what: "terminals")
        let phones = try registered(wallets, as: WalletRegistration.self, what: "wallets")
        let rails = try registered(banks, as: WalletRegistration.self, what: "banks")
        let authenticator: RequestAuthenticator
        do {
            authenticator = try RequestAuthenticator(terminals: registrations, wallets: phones, banks: rails, skewMillis: Int64(requestWindow) * 1000)
        } catch let rejection as Rejection {
            throw Failure(rejection.reason)
        }
        let ledger = try store.openCore()
        let logger = Logger(label: "qrpos.ledger.server")
        let issuer = try store.offlineIssuerKey()
        let router = LedgerHTTP.router(store: ledger, authenticator: authenticator, issuers: [issuer.publicKey], issuer: issuer,
                                       clockSkewMillis: OfflinePolicy.standard(for: .CNY).clockSkewMillis, logger: logger)
        let app = LedgerHTTP.application(router: router, host: host, port: port, logger: logger) { bound in
            FileHandle.standardOutput.write(Data("{\"listening\":\(bound)}\n".utf8))
        }
        let failure = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let sweep = Task { await LedgerSweep.every(.seconds(sweepSeconds), store: ledger, logger: logger) }
        Task {
            do { try await app.runService() } catch { failure.withLock { $0 = "\(error)" } }
            sweep.cancel()
            done.signal()
        }
        done.wait()
        if let message = failure.withLock({ $0 }) { throw Failure("the ledger server stopped: \(message)") }
    }
}

/// `qrpos terminal key`: this terminal's public key, for the server's list of terminals.
struct TerminalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "terminal", abstract: "This terminal's identity and configuration.",
                                                    subcommands: [Key.self, Setup.self])

    struct Setup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch this terminal's configuration from a ledger server (its merchant, the offline issuer keys) and keep it in <home>/terminal-config.json for when the server is away.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var terminal: TerminalOptions
        @Option(help: ArgumentHelp("The ledger server.", valueName: "url")) var server: String
        @Option(help: "Seconds to wait for the server.") var timeout: Double = 5

        func run() throws {
            guard let url = URL(string: server), url.scheme == "http" || url.scheme == "https" else { throw Failure("--server is an http:// URL, not \(server)") }
            let client = LedgerClient(server: url, terminalID: terminal.terminal, key: try store.terminalKey(), timeoutSeconds: timeout)
            let config: TerminalConfigWire
            do { config = try client.configuration() } catch { throw Failure("\(error)") }
            try TerminalConfigFile(store).save(config)
            let skew = config.time - UnixTime.nowMillis()
            printJSON(["terminal": config.terminal, "merchant": config.merchant.id, "merchant_name": config.merchant.name,
                       "issuer_keys": config.issuerKeys, "clock_skew_ms": skew, "file": TerminalConfigFile(store).path])
        }
    }

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print this terminal's public key (64 hex digits), made on first use.")
        @OptionGroup var store: StoreOptions
        func run() throws { print(try store.terminalKey().publicKey.hex) }
    }
}

/// `qrpos ledger proxy`: the link between terminals and the ledger server, with faults.
struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "A fault-injecting HTTP proxy in front of a ledger server: delay, lose, duplicate requests or their answers.",
        discussion: """
            For fault tests and rigs. Each request is read whole and given an action: pass, delay:MS, \
            drop-request (the server never sees it), drop-answer (the server acts, the terminal never \
            hears), duplicate (the server gets it twice). --script takes the actions of the first \
            requests in order (comma-separated; pass after); --random takes per-mille odds instead, \
            drawn from --seed. A delayed request is overtaken by later ones from other terminals. \
            Prints {"listening": PORT}, then one JSON line per request on stderr.
            """)
    @Option(help: "Port to listen on (0: any free one, printed).") var port = 0
    @Option(help: ArgumentHelp("The ledger server, e.g. http://127.0.0.1:8080.", valueName: "url")) var upstream: String
    @Option(help: ArgumentHelp("Actions of the first requests, e.g. pass,drop-answer,delay:4000.", valueName: "list")) var script: String?
    @Option(help: ArgumentHelp("Odds per mille, e.g. drop-request=50,drop-answer=50,duplicate=50,delay=100.", valueName: "odds"))
    var random: String?
    @Option(help: "Seed of --random.") var seed: UInt64 = 1
    @Option(name: .customLong("delay-max"), help: "Longest delay --random draws, in milliseconds.") var delayMax = 2_000
    @Option(help: ArgumentHelp("Only requests whose request line contains this (e.g. '/cancel') follow the script or the odds; the others pass.", valueName: "text"))
    var match: String?

    func run() throws {
        guard let url = URL(string: upstream), url.scheme == "http", let host = url.host, let upstreamPort = url.port else {
            throw Failure("--upstream is http://HOST:PORT, not \(upstream)")
        }
        let plan: FaultProxy.Plan
        if let random {
            var odds: [String: Int] = [:]
            for pair in random.split(separator: ",") {
                let kv = pair.split(separator: "=")
                guard kv.count == 2, let n = Int(kv[1]), (0...1000).contains(n),
                      ["drop-request", "drop-answer", "duplicate", "delay"].contains(String(kv[0])) else {
                    throw Failure("--random takes drop-request=N,drop-answer=N,duplicate=N,delay=N (per mille), not \(pair)")
                }
                odds[String(kv[0])] = n
            }
            guard odds.values.reduce(0, +) <= 1000 else { throw Failure("--random's odds add up to more than 1000 per mille") }
            plan = .random(seed: seed, dropRequest: odds["drop-request"] ?? 0, dropAnswer: odds["drop-answer"] ?? 0,
                           duplicate: odds["duplicate"] ?? 0, delay: odds["delay"] ?? 0, delayMaxMillis: delayMax)
        } else {
            let actions = try (script ?? "").split(separator: ",").map { text in
                guard let action = FaultProxy.Action(String(text)) else { throw Failure("unknown proxy action '\(text)'") }
                return action
            }
            plan = .script(actions)
        }
        let proxy = try FaultProxy(port: port, upstreamHost: host == "localhost" ? "127.0.0.1" : host, upstreamPort: upstreamPort,
                                   plan: plan, match: match) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        FileHandle.standardOutput.write(Data("{\"listening\":\(proxy.port)}\n".utf8))
        proxy.run()
    }
}
