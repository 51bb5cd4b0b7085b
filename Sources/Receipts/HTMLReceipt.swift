import Barcodes

/// The receipt as a page the customer opens (on the receipt's link, or the customer display)
/// and can print: one self-contained HTML document, no script, no outside resource, every text
/// escaped; the verification string as an inline SVG QR and as text, so anyone can check it
/// (`qrpos receipt verify STRING`).
public enum HTMLReceipt {
    /// The page for `signed`; a `copy` (a reprint) is marked as one.
    public static func render(_ signed: SignedReceipt, copy: Bool = false) throws -> String {
        let receipt = signed.receipt
        let verification = try ReceiptCodec.compact(signed)
        let qr = Render.svg(try QREncoder.encode(try ReceiptCodec.stamp(signed)), moduleSize: 3)
        var rows: [(String, String)] = [("Receipt", receipt.number), ("Date", TextReceipt.utcDateTime(receipt.issuedAt) + " UTC"),
                                        ("Merchant", receipt.merchantID), ("Terminal", receipt.terminalID)]
        if let orderID = receipt.orderID { rows.append(("Order", orderID)) }
        if receipt.paymentID != receipt.number { rows.append(("Payment", receipt.paymentID)) }
        if let number = receipt.refundOfNumber { rows.append(("Refund of receipt", number)) }
        if let refundOf = receipt.refundOf { rows.append(("Refund of", refundOf)) }
        rows += [("Method", receipt.method), ("Payer", receipt.payer)]
        if let approvalCode = receipt.approvalCode { rows.append(("Approval code", approvalCode)) }
        rows.append(("Status", TextReceipt.statusLine(receipt).lowercased()))

        var html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(receipt.kind == .refund ? "Refund" : "Receipt")) \(escape(receipt.number)) · \(escape(receipt.merchantName))</title>
            <style>
            body{font:16px/1.4 system-ui,sans-serif;margin:0;background:#eee;color:#111}
            main{max-width:26rem;margin:1rem auto;padding:1.5rem;background:#fff}
            h1{font-size:1.3rem;margin:0;text-align:center}.city{text-align:center;margin:0 0 1rem}
            .kind{text-align:center;font-weight:700;letter-spacing:.2em}
            dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem 1rem;margin:1rem 0}dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
            table{width:100%;border-collapse:collapse}td{padding:.2rem 0;vertical-align:top}td.n{text-align:right;white-space:nowrap}
            .total{font-weight:700;font-size:1.2rem;border-top:2px solid #111}
            figure{text-align:center;margin:1.5rem 0 0}figure svg{width:60%;height:auto}
            code{display:block;font-size:.65rem;overflow-wrap:anywhere;color:#555;margin-top:.5rem}
            @media print{body{background:#fff}main{margin:0;max-width:none}}
            </style>
            </head>
            <body>
            <main>
            <h1>\(escape(receipt.merchantName))</h1>

            """
        if !receipt.merchantCity.isEmpty { html += "<p class=\"city\">\(escape(receipt.merchantCity))</p>\n" }
        if copy { html += "<p class=\"kind\">\(escape(TextReceipt.copyMark))</p>\n" }
        if receipt.kind == .refund { html += "<p class=\"kind\">REFUND</p>\n" }
        html += "<dl>\n"
        for (label, value) in rows { html += "<dt>\(escape(label))</dt><dd>\(escape(value))</dd>\n" }
        html += "</dl>\n<table>\n"
        for line in receipt.lines {
            let what = line.quantity == 1 ? line.name : "\(line.name) (\(line.quantity) × \(line.unitPrice.decimalString))"
            html += "<tr><td>\(escape(what))</td><td class=\"n\">\(escape(line.total.decimalString))</td></tr>\n"
        }
        html += """
            <tr class="total"><td>\(receipt.kind == .refund ? "Refund total" : "Total")</td>\
            <td class="n">\(escape(receipt.amount.currency.code)) \(escape(receipt.amount.decimalString))</td></tr>

            """
        for tax in receipt.taxes {
            html += "<tr><td>incl. VAT \(escape(Receipt.percent(tax.rate))) of \(escape(tax.gross.decimalString))</td>"
                + "<td class=\"n\">\(escape(tax.tax.decimalString))</td></tr>\n"
        }
        html += """
            </table>
            <figure>
            \(qr)<figcaption>Signed by key \(escape(signed.keyID)). Check it: <code>\(escape(verification))</code></figcaption>
            </figure>
            </main>
            </body>
            </html>

            """
        return html
    }

    /// Text as HTML: the five characters that could end an element or an attribute.
    public static func escape(_ text: String) -> String {
        let special: Set<UInt8> = [UInt8(ascii: "&"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\""), UInt8(ascii: "'")]
        if !text.utf8.contains(where: special.contains) { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
