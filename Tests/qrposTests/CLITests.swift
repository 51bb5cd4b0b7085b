import Barcodes
import Foundation
import GRDB
import Payments
import QrposTestSupport
import Synchronization
import Testing

@Suite("qrpos command line")
struct CLITests {
    @Test("qrpos demo runs both flows end to end and exits 0")
    func demo() throws {
        let cli = try CLI()
        let r = try cli.run(["demo"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.contains("DEMO PASSED"))
        #expect(!r.stdout.contains("[FAILED]"))
        #expect(r.stdout.contains("insufficient funds"))
        #expect(r.stdout.contains("already used"))
        // Run from the repository, both sales sell from assets/catalogue.json, the QR sale too.
        #expect(r.stdout.contains("[ok] its receipt lists what was sold"))
        #expect(r.stdout.contains("Longjing green tea"))
    }

    @Test("scan prints one JSON line per code, nothing for a frame without one, and exits 1 on an unreadable file")
    func scanContract() throws {
        let cli = try CLI()
        try ImageFile.write(Render.raster(try QREncoder.encode("hello, 世界"), moduleSize: 4), to: cli.path("a.png"))
        try ImageFile.write(Render.raster(code128: try Code128.encode("281234567890123452")), to: cli.path("b.pgm"))
        try ImageFile.write(LumaFrame(width: 320, height: 240, fill: 200), to: cli.path("blank.png"))
        let r = try cli.run(["scan", cli.path("a.png"), cli.path("b.pgm"), cli.path("blank.png")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.lines.count == 2)
        let first = try cli.json(r.lines[0]), second = try cli.json(r.lines[1])
        #expect(first["source"] as? String == cli.path("a.png"))
        #expect(first["symbology"] as? String == "QR-Code")
        #expect(first["data"] as? String == "hello, 世界")
        #expect(second["symbology"] as? String == "CODE-128")
        #expect(second["data"] as? String == "281234567890123452")

        let stdin = try cli.run(["scan", "-"], stdin: Data(ImageFile.pgm(Render.raster(try QREncoder.encode("from stdin")))))
        #expect(try cli.json(try #require(stdin.lines.first))["data"] as? String == "from stdin")

        let missing = try cli.run(["scan", cli.path("nope.png"), cli.path("a.png")])
        #expect(missing.status == 1)
        #expect(missing.lines.count == 1, "the readable file is still scanned")
        #expect(missing.stderr.contains("nope.png"))
    }

    @Test("merchant-qr --parse prints the EMVCo spec sample's fields and rejects a bad CRC")
    func parseContract() throws {
        let cli = try CLI()
        let sample = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A"
        let ok = try cli.run(["merchant-qr", "--parse", sample])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("BEST TRANSPORT") && ok.stdout.contains("23.72"))
        let bad = try cli.run(["merchant-qr", "--parse", String(sample.dropLast()) + "B"])
        #expect(bad.status == 1)
        #expect(bad.stderr.lowercased().contains("crc"))
    }

    @Test("the checkout from the command line: codes, merchant QR, refunds, declines with exit 3, audit")
    func checkout() throws {
        let cli = try CLI()
        let merchant = try cli.run(["merchant", "create", "--name", "Corner Shop", "--city", "Hangzhou"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(merchant.hasPrefix("mer_"))
        let env = ["QRPOS_MERCHANT": merchant]
        let alice = try cli.run(["wallet", "create", "--name", "Alice"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["wallet", "deposit", alice, "50.00"]).status == 0)

        // Customer-presented, through an image of the code.
        let code = try cli.run(["wallet", "code", alice, "--png", cli.path("code.png"), "--barcode-png", cli.path("code128.png")])
        let digits = code.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(digits.count == 18)
        let charge = try cli.run(["charge", "--amount", "12.50", "--image", cli.path("code128.png"), "--json"], environment: env)
        #expect(charge.status == 0, "\(charge.stderr)")
        let sale = try cli.json(try #require(charge.lines.last))
        #expect(sale["status"] as? String == "approved")
        let paymentID = try #require(sale["payment_id"] as? String)
        let savedReceipt = try #require(sale["receipt_file"] as? String)
        #expect(savedReceipt.hasSuffix("receipts/T1-000001.json"), "saved under its receipt number")
        // The same code again: declined, exit 3, the reason on stderr.
        let replay = try cli.run(["charge", "--amount", "1.00", "--code", digits], environment: env)
        #expect(replay.status == 3)
        #expect(replay.stderr.contains("already used"))

        // Merchant-presented.
        let order = try cli.run(["merchant-qr", "--amount", "20.00", "--currency", "CNY", "--png", cli.path("order.png"),
                                 "--svg", cli.path("order.svg"), "--json"], environment: env)
        #expect(order.status == 0, "\(order.stderr)")
        let orderJSON = try cli.json(try #require(order.lines.last))
        let payload = try #require(orderJSON["payload"] as? String)
        let scanned = try cli.run(["scan", cli.path("order.png")])
        #expect(try cli.json(try #require(scanned.lines.first))["data"] as? String == payload)
        #expect(try cli.run(["order", "status", orderJSON["order_id"] as! String]).stdout.hasPrefix("open"))
        #expect(try cli.run(["wallet", "pay", payload, "--wallet", alice]).status == 0)
        let twice = try cli.run(["wallet", "pay", payload, "--wallet", alice])
        #expect(twice.status == 3 && twice.stderr.contains("already paid"))
        #expect(try cli.run(["order", "status", orderJSON["order_id"] as! String]).stdout.hasPrefix("paid"))

        // Refund, then one too many; insufficient funds.
        #expect(try cli.run(["refund", paymentID, "--amount", "2.50"], environment: env).status == 0)
        #expect(try cli.run(["refund", paymentID, "--amount", "10.01"], environment: env).status == 3)
        #expect(try cli.run(["wallet", "withdraw", alice, "1000.00"]).status == 3)

        let balance = try cli.json(try cli.run(["wallet", "balance", alice, "--json"]).stdout)
        #expect(balance["balance"] as? String == "20.00")   // 50 - 12.50 - 20 + 2.50
        #expect(try cli.run(["wallet", "history", alice]).lines.count == 4)

        // The saved receipt verifies; a tampered one does not.
        let receiptFile = URL(fileURLWithPath: savedReceipt)
        #expect(try cli.run(["receipt", "verify", receiptFile.path]).status == 0)
        let tampered = try String(contentsOf: receiptFile, encoding: .utf8).replacingOccurrences(of: "1250", with: "125")
        try tampered.write(to: cli.home.appendingPathComponent("tampered.json"), atomically: true, encoding: .utf8)
        #expect(try cli.run(["receipt", "verify", cli.path("tampered.json")]).status == 1)

        let audit = try cli.run(["ledger", "audit"])
        #expect(audit.status == 0 && audit.stdout.contains("audit passed"))
    }

    /// The offline flow from the command line, as a rig would script it: an offline code issued
    /// (its allowance reserved), taken by the terminal from a PNG with no ledger call, refused
    /// when shown again, forwarded by `sync push`, and the books balanced after.
    @Test("offline codes: wallet token, charge from an image, sync status and push, audit")
    func offlineFlow() throws {
        let cli = try CLI()
        let merchant = try cli.run(["merchant", "create", "--name", "Tea", "--city", "Hangzhou", "--mcc", "5812"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let wallet = try cli.run(["wallet", "create", "--name", "Wu"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["wallet", "deposit", wallet, "500.00"]).status == 0)
        let issued = try cli.run(["wallet", "token", wallet, "--allowance", "100.00", "--json", "--png", cli.path("code.png")])
        #expect(issued.status == 0, "\(issued.stderr)")
        let token = try cli.json(try #require(issued.lines.first))
        #expect(token["allowance"] as? String == "100.00" && token["counter"] as? Int == 1)
        #expect(try cli.json(try #require(try cli.run(["wallet", "balance", wallet, "--json"]).lines.first))["available"] as? String == "400.00",
                "the allowance is reserved")

        let paid = try cli.run(["charge", "--merchant", merchant, "--amount", "30.00", "--image", cli.path("code.png"), "--json"])
        #expect(paid.status == 0, "\(paid.stderr)")
        let again = try cli.run(["charge", "--merchant", merchant, "--amount", "30.00", "--image", cli.path("code.png")])
        #expect(again.status == 3 && again.stderr.contains("already used"))
        let waiting = try cli.json(try #require(try cli.run(["sync", "status", "--json"]).lines.first))
        #expect(waiting["unsynced_count"] as? Int == 1)
        #expect((waiting["unsynced_amounts"] as? [String: String]) == ["CNY": "30.00"])

        let pushed = try cli.run(["sync", "push", "--json"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(try cli.json(try #require(pushed.lines.first))["settled"] as? Int == 1)
        #expect(try cli.json(try #require(try cli.run(["sync", "status", "--json"]).lines.first))["unsynced_count"] as? Int == 0)
        #expect(try cli.json(try #require(try cli.run(["wallet", "balance", merchant, "--json"]).lines.first))["balance"] as? String == "30.00")
        // Pushed again: nothing left to send, nothing paid twice.
        #expect(try cli.run(["sync", "push"]).status == 0)
        #expect(try cli.run(["ledger", "audit"]).status == 0)
    }

    @Test("the offline rules are the merchant's to set: a tighter backlog, floor or age refuses offline payments, and sync status says so")
    func offlineRulesAreConfigurable() throws {
        let cli = try CLI()
        let merchant = try cli.run(["merchant", "create", "--name", "Tea", "--city", "Hangzhou"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let wallet = try cli.run(["wallet", "create", "--name", "Wu"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["wallet", "deposit", wallet, "500.00"]).status == 0)
        func token(_ allowance: String? = nil) throws -> String {
            let issued = try cli.run(["wallet", "token", wallet, "--json"] + (allowance.map { ["--allowance", $0] } ?? []))
            #expect(issued.status == 0, "\(issued.stderr)")
            let line = try #require(issued.lines.first)
            return try #require(try cli.json(line)["code"] as? String)
        }
        func charge(_ amount: String, _ code: String, _ rules: [String]) throws -> CLI.Result {
            try cli.run(["charge", "--merchant", merchant, "--amount", amount, "--code", code] + rules)
        }
        let oneWaiting = ["--offline-max-payments", "1"]
        #expect(try charge("30.00", try token("100.00"), oneWaiting).status == 0)
        // One payment waits unsynced: a terminal allowed one refuses the next, plainly.
        let second = try token()
        let refused = try charge("10.00", second, oneWaiting)
        #expect(refused.status == 3 && refused.stderr.contains("reconnect to the ledger first"), "\(refused.stderr)")
        let status = try cli.json(try #require(try cli.run(["sync", "status", "--json"] + oneWaiting).lines.first))
        #expect((status["offline_refused"] as? String)?.contains("reconnect to the ledger first") == true)
        #expect(try cli.json(try #require(try cli.run(["sync", "status", "--json"]).lines.first))["offline_refused"] is NSNull)
        // The standard rules take the same code: the refusal spent nothing.
        #expect(try charge("10.00", second, []).status == 0)
        let floor = try charge("10.00", try token(), ["--offline-floor-limit", "5.00"])
        #expect(floor.status == 3 && floor.stderr.contains("above the offline limit of 5.00"), "\(floor.stderr)")
        // Unsynced for a second or more is too old for a terminal allowed one second.
        Thread.sleep(forTimeInterval: 1.1)
        let old = try charge("10.00", try token(), ["--offline-max-age", "1s"])
        #expect(old.status == 3 && old.stderr.contains("reconnect to the ledger first"), "\(old.stderr)")
        let badAge = try charge("10.00", try token(), ["--offline-max-age", "a day"])
        #expect(badAge.status != 0 && badAge.stderr.contains("--offline-max-age"), "\(badAge.stderr)")
        #expect(try cli.json(try #require(try cli.run(["sync", "status", "--json"]).lines.first))["unsynced_count"] as? Int == 2)
        #expect(try cli.run(["ledger", "audit"]).status == 0)
    }

    @Test("the benches run whole on a small load: ledger on both stores, sync through a ledger server, receipts; each line says what it measured")
    func benchesRun() throws {
        let cli = try CLI()
        let ledger = try cli.run(["bench", "ledger", "--json", "--cases", "single-spread/1,single-hot/8,batch-spread/1", "--payments", "80",
                                  "--batches", "3", "--batch-size", "50", "--postgres", try TestPostgres.baseURL.get()])
        #expect(ledger.status == 0, "\(ledger.stderr)")
        let cases = try ledger.lines.map { try cli.json($0) }
        #expect(cases.count == 6, "three cases on each store: \(ledger.stdout)")
        for c in cases {
            #expect(c["audit"] as? String == "passed" && (c["per_second"] as? Int ?? 0) > 0 && (c["p99_ms"] as? Double ?? 0) >= (c["median_ms"] as? Double ?? 1))
        }
        #expect(Set(cases.compactMap { $0["store"] as? String }) == ["sqlite", "postgres"])
        #expect(cases.first { $0["case"] as? String == "batch-spread" }?["n"] as? Int == 150)

        let sync = try cli.run(["bench", "sync", "--json", "--payments", "120"])
        #expect(sync.status == 0, "\(sync.stderr)")
        let parts = try sync.lines.map { try cli.json($0) }
        #expect(parts.compactMap { $0["case"] as? String } == ["offline-approval", "sync-upload", "online-authorize", "online-authorize"], "\(sync.stdout)")
        #expect(parts.first { $0["case"] as? String == "sync-upload" }?["audit"] as? String == "passed")
        #expect(parts.allSatisfy { ($0["n"] as? Int ?? 0) > 0 && ($0["median_ms"] as? Double ?? 0) > 0 })

        let receipt = try cli.run(["bench", "receipt", "--json", "--payments", "20"])
        #expect(receipt.status == 0 && !receipt.lines.isEmpty, "\(receipt.stderr)")
    }

    @Test("ledger correct moves part of a mistaken transfer back, saying why, and refuses more than it moved")
    func correctFromTheCommandLine() throws {
        let cli = try CLI()
        let wallet = try cli.run(["wallet", "create", "--name", "Wu"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let deposit = try cli.json(try #require(try cli.run(["wallet", "deposit", wallet, "500.00", "--json"]).lines.first))
        let typo = try #require(deposit["id"] as? String)
        let fixed = try cli.run(["ledger", "correct", typo, "--amount", "450.00", "--reason", "typed 500.00 for 50.00", "--json"])
        #expect(fixed.status == 0, "\(fixed.stderr)")
        let correction = try cli.json(try #require(fixed.lines.first))
        #expect(correction["kind"] as? String == "correction" && correction["debit"] as? String == wallet && correction["amount"] as? String == "450.00")
        #expect(try cli.json(try #require(try cli.run(["wallet", "balance", wallet, "--json"]).lines.first))["balance"] as? String == "50.00")
        let tooMuch = try cli.run(["ledger", "correct", typo, "--amount", "50.01", "--reason", "again"])
        #expect(tooMuch.status == 3 && tooMuch.stderr.contains("more than it moved"), "\(tooMuch.stderr)")
        #expect(try cli.run(["ledger", "correct", "no-such-transfer", "--amount", "1.00", "--reason", "x"]).status == 1)
        #expect(try cli.run(["ledger", "audit"]).status == 0)
    }

    @Test("wallet refund: the merchant's refund from the wallet's commands, partial, never above the payment")
    func refundUnderWallet() throws {
        let (cli, merchant, wallet) = try CLI.shop("Noodles", funds: "50.00")
        let sale = try cli.run(["charge", "--merchant", merchant, "--amount", "12.00", "--code", try cli.paymentCode(wallet), "--json"])
        #expect(sale.status == 0, "\(sale.stderr)")
        let refunded = try cli.run(["wallet", "refund", "T1-000001", "--amount", "5.00", "--merchant", merchant, "--json"])
        #expect(refunded.status == 0, "\(refunded.stderr)")
        #expect(try cli.run(["wallet", "balance", wallet]).stdout == "43.00 CNY\n")
        let tooMuch = try cli.run(["wallet", "refund", "T1-000001", "--amount", "7.01", "--merchant", merchant])
        #expect(tooMuch.status == 3 && tooMuch.stderr.contains("exceed"), "\(tooMuch.stderr)")
        #expect(try cli.run(["ledger", "audit"]).status == 0)
    }

    @Test("bad input gets one clear line and a non-zero exit")
    func badInput() throws {
        let cli = try CLI()
        let noMerchant = try cli.run(["charge", "--amount", "1.00", "--code", "281234567890123452"])
        #expect(noMerchant.status != 0 && noMerchant.stderr.contains("--merchant"))
        let merchant = try cli.run(["merchant", "create", "--name", "M", "--city", "C"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let badAmount = try cli.run(["charge", "--amount", "12.505", "--code", "281234567890123452", "--merchant", merchant])
        #expect(badAmount.status == 1 && badAmount.stderr.contains("decimals"))
        let badCode = try cli.run(["charge", "--amount", "1.00", "--code", "12345", "--merchant", merchant])
        #expect(badCode.status == 3 && badCode.stderr.contains("18 digits"))
        #expect(try cli.run(["wallet", "pay", "not a qr", "--wallet", "wal_x"]).status == 1)
        #expect(try cli.run(["ledger", "audit", "--database", cli.path("none.sqlite")]).status == 1)
    }

    @Test("merchant-qr --parse names the fault of a bad length and of a missing mandatory field")
    func parseFaults() throws {
        let cli = try CLI()
        // Pix static sample (BCB manual) with its merchant name's length raised past the end.
        let pix = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
        #expect(try cli.run(["merchant-qr", "--parse", pix]).status == 0)
        let badLength = try cli.run(["merchant-qr", "--parse", pix.replacingOccurrences(of: "5913Fulano", with: "5999Fulano")])
        #expect(badLength.status == 1 && !badLength.stderr.isEmpty)
        // Without field 59 (merchant name), CRC recomputed so only the missing field is wrong.
        let body = pix.replacingOccurrences(of: "5913Fulano de Tal", with: "").dropLast(4)
        let crc = String(format: "%04X", crc16(Array(body.utf8)))
        let missing = try cli.run(["merchant-qr", "--parse", body + crc])
        #expect(missing.status == 1 && missing.stderr.contains("59"))
    }

    @Test("ledger audit exits 1 and lists each violation of a tampered ledger; refuses a file that is not a ledger")
    func auditViolations() throws {
        let cli = try CLI()
        let wallet = try cli.run(["wallet", "create", "--name", "A"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["wallet", "deposit", wallet, "5.00"]).status == 0)
        #expect(try cli.run(["ledger", "audit"]).status == 0)
        // Tamper with the file behind the ledger's back, as a bad disk or a bad actor would.
        try DatabaseQueue(path: cli.path("ledger.sqlite")).write { db in
            try db.execute(sql: "UPDATE account SET credits_posted = credits_posted + 1 WHERE kind = 'wallet'")
        }
        let audit = try cli.run(["ledger", "audit"])
        #expect(audit.status == 1)
        #expect(audit.stdout.contains("VIOLATION debits equal credits"))
        #expect(audit.stdout.contains("VIOLATION balances match transfers"))
        try Data("not a database".utf8).write(to: cli.home.appendingPathComponent("junk.sqlite"))
        #expect(try cli.run(["ledger", "audit", "--database", cli.path("junk.sqlite")]).status == 1)
        #expect(try cli.run(["ledger", "audit", "--database", "sqlite:///tmp/x.sqlite"]).status == 1)
    }

    @Test("twenty processes withdrawing from one wallet at once: exactly what it holds goes out, nothing more")
    func manyProcesses() throws {
        let cli = try CLI()
        let wallet = try cli.run(["wallet", "create", "--name", "Shared"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["wallet", "deposit", wallet, "10.00"]).status == 0)
        let results = Mutex<[Int32]>([])
        DispatchQueue.concurrentPerform(iterations: 20) { _ in
            let status = (try? cli.run(["wallet", "withdraw", wallet, "1.00"]).status) ?? -1
            results.withLock { $0.append(status) }
        }
        let statuses = results.withLock { $0 }
        #expect(statuses.filter { $0 == 0 }.count == 10)
        #expect(statuses.filter { $0 == 3 }.count == 10, "the rest are declined, not errors: \(statuses)")
        // Withdrawals are held until the bank answers: owned, not spendable.
        let balance = try cli.json(try cli.run(["wallet", "balance", wallet, "--json"]).stdout)
        #expect(balance["available_minor_units"] as? Int == 0)
        #expect(balance["minor_units"] as? Int == 10_00)
        #expect(try cli.run(["ledger", "audit"]).status == 0)
    }

    @Test("wallet transfer, bill, exchange, bank deposit and its callbacks, alerts from a cursor")
    func walletMoney() throws {
        let cli = try CLI()
        func id(_ args: [String]) throws -> String { try cli.run(args).stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        let alice = try id(["wallet", "create", "--name", "Alice", "--phone", "+8613800000001"])
        let bob = try id(["wallet", "create", "--name", "Bob", "--phone", "+8613800000002"])
        let dollars = try id(["wallet", "create", "--name", "Alice USD", "--currency", "USD"])
        #expect(try cli.run(["wallet", "deposit", alice, "100.00"]).status == 0)
        #expect(try cli.run(["wallet", "deposit", dollars, "20.00"]).status == 0)
        // A bank top-up is held until the bank answers; the answer counts once.
        let held = try cli.json(try cli.run(["wallet", "deposit", bob, "30.00", "--source", "bank", "--id", "dep-1", "--json"]).stdout)
        #expect(held["status"] as? String == "held")
        #expect(try cli.run(["wallet", "balance", bob]).stdout == "0.00 CNY\n")
        #expect(try cli.run(["wallet", "bank-callback", "dep-1", "settled"]).status == 0)
        let again = try cli.json(try cli.run(["wallet", "bank-callback", "dep-1", "settled", "--json"]).stdout)
        #expect(again["replayed"] as? Bool == true)
        #expect(try cli.run(["wallet", "bank-callback", "dep-1", "returned"]).status == 3)
        #expect(try cli.run(["wallet", "balance", bob]).stdout == "30.00 CNY\n")
        // By phone with a fee; to an unknown phone: declined with its reason.
        #expect(try cli.run(["wallet", "transfer", alice, "10.00", "--phone", "+8613800000002", "--fee", "0.10"]).status == 0)
        let unknown = try cli.run(["wallet", "transfer", alice, "1.00", "--phone", "+1555"])
        #expect(unknown.status == 3 && unknown.stderr.contains("no wallet with that id or phone number"))
        #expect(try cli.run(["wallet", "bill", alice, "biller-power", "5.00", "--reference", "INV-9"]).status == 0)
        let exchanged = try cli.run(["wallet", "exchange", dollars, alice, "10.00", "--json"])
        #expect(exchanged.status == 0)
        #expect(try cli.json(exchanged.lines[0])["target"] as? String == "71.00")
        #expect(try cli.run(["wallet", "balance", alice]).stdout == "155.90 CNY\n")
        // Alerts: Bob's events in order, then from a cursor.
        let bobs = try cli.run(["wallet", "alerts", bob, "--json"]).lines.map { try cli.json($0) }
        #expect(bobs.map { $0["kind"] as? String } == ["deposit:hold", "deposit:post", "transfer"])
        #expect(bobs.map { $0["balance_minor"] as? Int } == [0, 30_00, 40_00])
        let cursor = try #require(bobs.first?["seq"] as? Int)
        #expect(try cli.run(["wallet", "alerts", bob, "--after", "\(cursor)", "--json"]).lines.count == 2)
        #expect(try cli.run(["ledger", "audit"]).status == 0)
    }
}

@Suite struct ExchangeQuoteTests {
    @Test("a quote taken while it holds, as the desk gave it: an expired or edited one is declined and moves nothing")
    func quoteThenExchange() throws {
        let cli = try CLI()
        func id(_ args: [String]) throws -> String { try cli.run(args).stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        let yuan = try id(["wallet", "create", "--name", "Alice"])
        let dollars = try id(["wallet", "create", "--name", "Alice USD", "--currency", "USD"])
        #expect(try cli.run(["wallet", "deposit", dollars, "20.00"]).status == 0)
        let quoted = try cli.run(["wallet", "quote", "10.00", "--from", "USD", "--to", "CNY", "--json"])
        let line = try #require(quoted.lines.first, "\(quoted.stderr)")
        #expect(try cli.json(line)["target"] as? String == "71.00")
        // Two minutes on, the quote (good for one) has lapsed.
        let late = try cli.run(["wallet", "exchange", dollars, yuan, "10.00", "--quote", line], under: try skewedClock("+120s"))
        #expect(late.status == 3 && late.stderr.contains("expired"), "\(late.stderr)")
        let edited = try cli.run(["wallet", "exchange", dollars, yuan, "10.00", "--quote", line.replacingOccurrences(of: "\"71.00\"", with: "\"81.00\"")])
        #expect(edited.status == 3 && edited.stderr.contains("not one this desk gave"), "\(edited.stderr)")
        let other = try cli.run(["wallet", "exchange", dollars, yuan, "5.00", "--quote", line])
        #expect(other.status != 0 && other.stderr.contains("the quote is for"), "\(other.stderr)")
        #expect(try cli.run(["wallet", "balance", yuan]).stdout == "0.00 CNY\n")
        try line.write(toFile: cli.path("quote.json"), atomically: true, encoding: .utf8)
        let taken = try cli.run(["wallet", "exchange", dollars, yuan, "10.00", "--quote", cli.path("quote.json"), "--json"])
        #expect(taken.status == 0, "\(taken.stderr)")
        #expect(try cli.run(["wallet", "balance", yuan]).stdout == "71.00 CNY\n")
        #expect(try cli.run(["wallet", "balance", dollars]).stdout == "9.97 USD\n", "10.00 and its 0.03 fee")
        #expect(try cli.run(["ledger", "audit"]).status == 0)
    }
}

@Suite struct AlertsFollowTests {
    /// A notifier waiting with --follow sees events made after it started, in order, and a
    /// restart from its last cursor repeats nothing and misses nothing.
    @Test func followDeliversNewEventsAndResumesFromTheCursor() throws {
        let cli = try CLI()
        let wallet = try cli.run(["wallet", "create", "--name", "Watched"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["wallet", "deposit", wallet, "10.00"]).status == 0)
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = ["wallet", "alerts", wallet, "--follow", "--count", "3", "--json"]
        process.environment = ProcessInfo.processInfo.environment.merging(["QRPOS_HOME": cli.home.path]) { $1 }
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        Thread.sleep(forTimeInterval: 0.5)
        #expect(process.isRunning, "it waits for more events")
        #expect(try cli.run(["wallet", "deposit", wallet, "2.00"]).status == 0)
        #expect(try cli.run(["wallet", "deposit", wallet, "3.00"]).status == 0)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let events = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try cli.json(String($0)) }
        #expect(events.map { $0["balance_minor"] as? Int } == [10_00, 12_00, 15_00])
        let cursor = try #require(events[1]["seq"] as? Int)
        let rest = try cli.run(["wallet", "alerts", wallet, "--after", "\(cursor)", "--json"]).lines
        #expect(rest.count == 1)
        #expect(try cli.json(rest[0])["delta"] as? String == "3.00")
    }
}

/// CRC-16/CCITT-FALSE, written out again here so the test does not trust the code it tests.
func crc16(_ bytes: [UInt8]) -> UInt16 {
    var crc: UInt16 = 0xFFFF
    for byte in bytes {
        crc ^= UInt16(byte) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
    }
    return crc
}

@Suite("qrpos receipt print") struct ReceiptPrintCLITests {
    @Test("the last receipt printed to a device file as ESC/POS; a printer that is off is a clear error and the receipt stays")
    func printLast() throws {
        let cli = try CLI()
        let merchant = try cli.run(["merchant", "create", "--name", "Café Tea", "--city", "Hangzhou", "--mcc", "5812"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let wallet = try cli.run(["wallet", "create", "--name", "Wu"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["wallet", "deposit", wallet, "50.00"]).status == 0)
        let code = try cli.json(try #require(try cli.run(["wallet", "code", wallet, "--json"]).lines.first))
        let sale = try cli.run(["charge", "--merchant", merchant, "--amount", "4.20", "--code", try #require(code["code"] as? String)])
        #expect(sale.status == 0, "\(sale.stderr)")

        let device = cli.path("lp0")
        _ = FileManager.default.createFile(atPath: device, contents: nil)
        let printed = try cli.run(["receipt", "print", "--last", "--printer", "file:" + device, "--profile", "pos-5890"])
        #expect(printed.status == 0, "\(printed.stderr)")
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: device)))
        #expect(bytes.starts(with: [0x1B, 0x40]) && bytes.contains(0x82), "initialised; é in cp437")
        // Read back as the printer would: the QR went as an image, and zbar reads the receipt's stamp from it.
        let stream = try PrintedStream(bytes)
        let raster = try #require(stream.rasters.first)
        let stamp = try #require(CodeScanner().scan(stream.frame(raster)).compactMap(\.text).first)
        #expect(stamp.hasPrefix("QRV1*T1-000001*T1*sale*CNY*420*"))
        #expect(try cli.run(["receipt", "verify", stamp]).status == 0, "the printed QR verifies alone")

        let off = try cli.run(["receipt", "print", "--last", "--printer", "tcp://127.0.0.1:1", "--timeout", "2"])
        #expect(off.status == 1 && off.stderr.contains("refused the connection"), "\(off.stderr)")
        #expect(try cli.run(["receipt", "print", "--last", "--printer", "file:" + device]).status == 0, "printing again is safe")
    }

    @Test("receipts are numbered per terminal; a reprint by number is a copy; X and Z reports print; a Z cannot be taken back")
    func bookAndReports() throws {
        let cli = try CLI()
        let merchant = try cli.run(["merchant", "create", "--name", "Tea", "--city", "Hangzhou", "--mcc", "5812"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let wallet = try cli.run(["wallet", "create", "--name", "Wu"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["wallet", "deposit", wallet, "50.00"]).status == 0)
        for amount in ["4.20", "60.00", "3.00"] {
            let code = try cli.json(try #require(try cli.run(["wallet", "code", wallet, "--json"]).lines.first))
            let sale = try cli.run(["charge", "--merchant", merchant, "--terminal-id", "T7", "--amount", amount, "--json",
                                    "--code", try #require(code["code"] as? String)])
            if amount == "60.00" { #expect(sale.status == 3, "declined: more than the wallet holds"); continue }
            #expect(sale.status == 0, "\(sale.stderr)")
        }
        #expect(try cli.run(["refund", "T7-000001", "--merchant", merchant, "--terminal-id", "T7", "--amount", "1.00"]).status == 0)
        let listed = try cli.run(["receipt", "list", "--terminal-id", "T7", "--json"]).lines.map { try cli.json($0) }
        #expect(listed.map { $0["number"] as? String } == ["T7-000001", "T7-000002", "T7-000003"], "the decline took no number")
        #expect(listed.last?["refund_of_number"] as? String == "T7-000001")

        let device = cli.path("lp0")
        _ = FileManager.default.createFile(atPath: device, contents: nil)
        let first = try cli.run(["receipt", "print", "T7-000002", "--terminal-id", "T7", "--printer", "file:" + device])
        let again = try cli.run(["receipt", "print", "T7-000002", "--terminal-id", "T7", "--printer", "file:" + device])
        #expect(first.status == 0 && !first.stdout.contains("copy") && again.stdout.contains("(copy)"), "\(first.stdout) \(again.stdout)")
        let printedBytes = try Array(Data(contentsOf: URL(fileURLWithPath: device)))
        let printedStream = try PrintedStream(printedBytes)
        #expect(printedStream.jobs == 2 && printedStream.nativeQRs.count == 2 && printedStream.endsWithCut)
        let printed = String(decoding: printedBytes, as: UTF8.self)
        #expect(printed.components(separatedBy: "*** COPY ***").count == 3, "only the reprint is marked, top and bottom")
        // The QR printed on it carries the signed stamp: it verifies alone, a changed amount does not, and
        // checked against another receipt it names the fields that differ.
        let stamp = String(decoding: try #require(printedStream.nativeQRs.first), as: UTF8.self)
        #expect(stamp.hasPrefix("QRV1*T7-000002*"))
        let alone = try cli.run(["receipt", "verify", stamp])
        #expect(alone.status == 0 && alone.stdout.contains("T7-000002 stamp valid") && alone.stdout.contains("3.00"), "\(alone.stdout) \(alone.stderr)")
        #expect(try cli.run(["receipt", "verify", stamp.replacingOccurrences(of: "*300*", with: "*30*")]).status == 1)
        #expect(try cli.run(["receipt", "verify", "T7-000002", "--qr", stamp]).status == 0)
        let other = try cli.run(["receipt", "verify", "T7-000001", "--qr", stamp])
        #expect(other.status == 1 && other.stderr.contains("number: the receipt says T7-000001, its QR says T7-000002")
                && other.stderr.contains("amount:"), "\(other.stderr)")

        let x = try cli.json(try cli.run(["report", "x", "--terminal-id", "T7", "--json"]).stdout)
        let sections = try #require(x["sections"] as? [[String: Any]])
        #expect((sections.first?["sales"] as? [String: Any])?["amount"] as? Int == 720)
        #expect((sections.first?["refunds"] as? [String: Any])?["amount"] as? Int == 100)
        let zDevice = cli.path("lp1")
        _ = FileManager.default.createFile(atPath: zDevice, contents: nil)
        let z = try cli.run(["report", "z", "--terminal-id", "T7", "--printer", "file:" + zDevice])
        #expect(z.status == 0 && z.stdout.contains("Z REPORT 1") && z.stdout.contains("NET"), "\(z.stdout) \(z.stderr)")
        let zStream = try PrintedStream(try Array(Data(contentsOf: URL(fileURLWithPath: zDevice))))
        #expect(zStream.jobs == 1 && zStream.endsWithCut && zStream.text.contains { $0.contains("Z REPORT 1") })
        let after = try cli.json(try cli.run(["report", "x", "--terminal-id", "T7", "--json"]).stdout)
        #expect(after["receiptCount"] as? Int == 0, "the next day starts from zero")
        let offPrinter = try cli.run(["report", "z", "--terminal-id", "T7", "--printer", "tcp://127.0.0.1:1", "--timeout", "2"])
        #expect(offPrinter.status == 1 && offPrinter.stderr.contains("--reprint 2"), "a Z made while the printer is off is kept: \(offPrinter.stderr)")
        let reprint = try cli.run(["report", "z", "--terminal-id", "T7", "--reprint", "1"])
        #expect(reprint.status == 0 && reprint.stdout.contains("Z REPORT 1") && reprint.stdout.contains("*** COPY ***"))
        #expect(try cli.run(["report", "z", "--terminal-id", "T7", "--reprint", "9"]).status == 1)
    }

    @Test("qrpos demo --printer prints every receipt; a printer that is off fails the demo plainly, and the payments stand")
    func demoPrinter() throws {
        let cli = try CLI()
        let device = cli.path("lp0")
        _ = FileManager.default.createFile(atPath: device, contents: nil)
        let demo = try cli.run(["demo", "--printer", "file:" + device, "--printer-profile", "pos-5890"])
        #expect(demo.status == 0, "\(demo.stdout.suffix(600))")
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: device)))
        let stream = try PrintedStream(bytes)
        #expect(stream.jobs == 5, "three receipts, a copy of the first, and the Z report, one after another")
        let stamps = stream.rasters.compactMap { CodeScanner().scan(stream.frame($0)).compactMap(\.text).first }
        #expect(stamps.count == 4 && stamps[0] == stamps[3], "each receipt's QR reads back; the copy carries the original's stamp")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.components(separatedBy: "*** COPY ***").count == 3, "the copy is marked at its top and bottom, the originals not")
        #expect(text.contains("Z REPORT 1"))
        let off = try cli.run(["demo", "--printer", "tcp://127.0.0.1:1"])
        #expect(off.status == 1 && off.stdout.contains("refused the connection") && off.stdout.contains("ledger audit"), "\(off.stdout.suffix(600))")
    }
}
