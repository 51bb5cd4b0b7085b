import Barcodes
import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import Synchronization
import ServiceLifecycle
import Terminal

/// The customer display: a page the till serves on loopback for a second screen or a kiosk
/// browser, showing the amount, the merchant QR while it is shown, and the sale's status, live
/// through server-sent events. The QR is drawn here as inline SVG, so the page needs nothing
/// from outside; its one script follows the event stream.
///
///     GET /display                  the page
///     GET /v1/display/events        server-sent `state` events: the till now, then each change
///     POST /v1/display/shown        the page's word of what it now shows ({"phase", "lastEvent"})
///     GET /v1/display/shown         that word, and when it came: a kiosk's watchdog (or a test)
///                                   sees whether the screen the customer faces is live
public enum CustomerDisplay {
    /// What a display last said it shows.
    struct Shown: Codable, Sendable {
        var phase: String
        var lastEvent: Int
        /// Unix milliseconds, set by the till when the word arrives.
        var at: Int64?
    }

    /// The last word from any display.
    final class Monitor: Sendable {
        let last = Mutex<Shown?>(nil)
    }

    /// What the page shows: the till's state in the customer's words, and the QR as SVG.
    struct View: Encodable {
        let phase: String
        let amount: String?
        let currency: String
        let headline: String
        let detail: String
        let qrSVG: String?
        let lastEvent: Int

        init(_ s: TillSession.Snapshot) {
            phase = s.phase.rawValue
            amount = s.amount
            currency = s.currency
            lastEvent = s.lastEvent
            switch s.phase {
            case .idle: (headline, detail) = ("Welcome", "")
            case .awaitingCode: (headline, detail) = ("Please show your payment code", "or ask the cashier for the QR")
            case .showingQR: (headline, detail) = ("Scan to pay", "with your wallet app")
            case .authorizing: (headline, detail) = ("Authorizing…", "")
            case .approved: (headline, detail) = ("Paid — thank you", "receipt \(s.receipt ?? "")")
            case .declined: (headline, detail) = ("Declined", s.reason ?? "")
            }
            qrSVG = s.phase == .showingQR ? s.qrPayload.flatMap { try? Render.svg(QREncoder.encode($0), moduleSize: 8) } : nil
        }
    }

    public static func addRoutes(_ router: Router<BasicRequestContext>, session: TillSession) {
        let monitor = Monitor()
        router.post("v1/display/shown") { request, _ in
            var shown = try await ControlServer.decode(Shown.self, request)
            shown.at = Int64(Date().timeIntervalSince1970 * 1000)
            monitor.last.withLock { $0 = shown }
            return Response(status: .noContent)
        }
        router.get("v1/display/shown") { _, _ in
            guard let shown = monitor.last.withLock({ $0 }) else { throw ControlServer.Failure(status: .notFound, reason: "no display has said what it shows yet") }
            return ControlServer.reply(shown)
        }

        router.get("display") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(string: page(merchant: session.checkout.merchant.name, now: View(session.snapshot)))))
        }

        router.get("v1/display/events") { _, _ in
            let body = ResponseBody { writer in
                var seen = -1
                // Until the display goes, or the till is stopping (a stream left open would
                // hold a graceful shutdown up forever).
                while !Task.isShuttingDownGracefully {
                    let snapshot = session.snapshot
                    if snapshot.lastEvent != seen {
                        seen = snapshot.lastEvent
                        let data = try JSONEncoder().encode(View(snapshot))
                        try await writer.write(ByteBuffer(bytes: Array("event: state\ndata: ".utf8) + Array(data) + Array("\n\n".utf8)))
                    } else {
                        // A comment keeps an idle link open; a gone display ends the loop here.
                        try await writer.write(ByteBuffer(string: ": waiting\n\n"))
                    }
                    let after = seen
                    _ = try await NIOThreadPool.singleton.runIfActive { session.events(after: after, timeout: 2) }
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        }
    }

    /// The page, drawn at once with the till's state now (`now`), so its first paint is already
    /// what the customer should see (a QR included); the event stream then carries each change.
    static func page(merchant: String, now: View) -> String {
        // JSONEncoder writes "/" as "\/", so no "</script>" can close the script early.
        let initial = (try? JSONEncoder().encode(now)).flatMap { String(data: $0, encoding: .utf8) } ?? "null"
        let name = merchant.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(name) · qrpos</title>
            <style>
            body{margin:0;font:28px/1.3 system-ui,sans-serif;background:#fff;color:#111;text-align:center}
            #merchant{font-size:26px;padding:18px;border-bottom:2px solid #111}
            #amount{font-size:72px;font-weight:700;margin:24px 0 8px}
            #headline{display:inline-block;font-size:40px;font-weight:700;padding:6px 28px;margin:8px}
            .approved #headline{background:#111;color:#fff}.declined #headline{border:6px solid #111}
            #detail{font-size:24px;min-height:32px}
            #qr svg{width:440px;height:440px;margin-top:12px}
            </style>
            </head>
            <body class="idle">
            <div id="merchant">\(name)</div>
            <div id="amount"></div>
            <div id="headline">Welcome</div>
            <div id="detail"></div>
            <div id="qr"></div>
            <script>
            const $ = id => document.getElementById(id);
            function show(v) {
              document.body.className = v.phase;
              $("amount").textContent = v.amount ? v.currency + " " + v.amount : "";
              $("headline").textContent = v.headline;
              $("detail").textContent = v.detail;
              $("qr").innerHTML = v.qrSVG || "";
              // Tell the till what the customer now sees.
              fetch("/v1/display/shown", {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify({phase: v.phase, lastEvent: v.lastEvent})}).catch(() => {});
            }
            const initial = \(initial);
            if (initial) show(initial);
            new EventSource("/v1/display/events").addEventListener("state", e => show(JSON.parse(e.data)));
            </script>
            </body>
            </html>

            """
    }
}
