import Testing

@Test func placeholder_qrposTests() { #expect(Bool(true)) }
